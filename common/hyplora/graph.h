/* Unweighted undirected graphs: edge lists and all-pairs shortest-path (hop) distances, the
 * metric spaces whose Gromov δ is known in closed form (trees 0, grids, the Petersen graph;
 * docs/delta.md).
 *
 * An edge-list file has one edge "u v" per line: two non-negative decimal node ids separated
 * by spaces or tabs. Blank lines and '#' comments (a whole line, or after the pair) are
 * allowed; CR LF line ends too. The nodes are 0 .. the largest id; an id that no edge names
 * is an isolated node. Repeated edges (also "v u" after "u v") and self-loops are allowed
 * and change no distance. */
#ifndef HYPLORA_GRAPH_H
#define HYPLORA_GRAPH_H

#include <stddef.h>

#include "hyplora/error.h"

typedef struct hp_graph {
    size_t n_nodes;  /* nodes 0 .. n_nodes - 1 */
    size_t n_edges;  /* distinct undirected edges between two different nodes */
    size_t *offsets; /* [n_nodes + 1]: the neighbours of u are adj[offsets[u] .. offsets[u + 1]) */
    size_t *adj;     /* [2 n_edges], each node's neighbours in increasing order */
} hp_graph;

/* Builds the graph of n_nodes nodes from n_pairs edges: pairs[2 i], pairs[2 i + 1]. Fails
 * on an id >= n_nodes. On failure g is left empty (safe to free). */
int hp_graph_from_edges(const size_t *pairs, size_t n_pairs, size_t n_nodes, hp_graph *g,
                        hp_err *err);

/* Reads an edge-list file (format above). Node ids must be below max_nodes (the caller's
 * bound on the n x n distances it will need). Errors name the file and the line: a field
 * that is not a non-negative integer, one id or more than two, an id past the bound, a
 * file without edges. On failure g is left empty (safe to free). */
int hp_graph_read_edges(const char *path, size_t max_nodes, hp_graph *g, hp_err *err);

void hp_graph_free(hp_graph *g);

/* The n x n matrix D (row-major) of hop counts between every pair of nodes, by a
 * breadth-first search from every node on `threads` threads (<= 0: all cores). A graph
 * that is not connected is an error naming the smallest node that node 0 cannot reach. */
int hp_graph_distances(const hp_graph *g, int threads, double *D, hp_err *err);

#endif
