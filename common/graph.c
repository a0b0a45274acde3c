/* Unweighted undirected graphs (hyplora/graph.h): edge lists in compressed rows, and the
 * all-pairs hop distances by one breadth-first search per node, over the threads. */
#include "hyplora/graph.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"

void hp_graph_free(hp_graph *g)
{
    if (!g)
        return;
    free(g->offsets);
    free(g->adj);
    memset(g, 0, sizeof *g);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int hp_graph_from_edges(const size_t *pairs, size_t n_pairs, size_t n_nodes, hp_graph *g,
                        hp_err *err)
{
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < 2 * n_pairs; i++)
        if (pairs[i] >= n_nodes)
            return hp_fail(err, "edge %zu names node %zu, but the graph has %zu nodes", i / 2,
                           pairs[i], n_nodes);
    if (n_pairs > SIZE_MAX / 2 / sizeof(size_t) || n_nodes == SIZE_MAX)
        return hp_fail(err, "%zu edges are too many", n_pairs);
    size_t *off = hp_calloc(n_nodes + 1, sizeof *off, "the graph's node offsets", err);
    size_t *adj = hp_malloc((n_pairs ? 2 * n_pairs : 1) * sizeof *adj, "the graph's edges", err);
    size_t *fill = hp_calloc(n_nodes ? n_nodes : 1, sizeof *fill, "the graph's node offsets", err);
    if (!off || !adj || !fill) {
        free(off);
        free(adj);
        free(fill);
        return -1;
    }
    for (size_t i = 0; i < n_pairs; i++) {
        size_t u = pairs[2 * i], v = pairs[2 * i + 1];
        if (u != v) {
            off[u + 1]++;
            off[v + 1]++;
        }
    }
    for (size_t u = 0; u < n_nodes; u++)
        off[u + 1] += off[u];
    for (size_t i = 0; i < n_pairs; i++) {
        size_t u = pairs[2 * i], v = pairs[2 * i + 1];
        if (u != v) {
            adj[off[u] + fill[u]++] = v;
            adj[off[v] + fill[v]++] = u;
        }
    }
    /* each list sorted, repeats dropped, the lists moved down over the gaps */
    size_t out = 0;
    for (size_t u = 0; u < n_nodes; u++) {
        size_t begin = off[u], end = off[u + 1];
        qsort(adj + begin, end - begin, sizeof *adj, cmp_size);
        off[u] = out;
        for (size_t k = begin; k < end; k++)
            if (k == begin || adj[k] != adj[k - 1])
                adj[out++] = adj[k];
    }
    off[n_nodes] = out;
    free(fill);
    g->n_nodes = n_nodes;
    g->n_edges = out / 2;
    g->offsets = off;
    g->adj = adj;
    return 0;
}

/* ---- the edge-list file ---- */

/* Splits a line into at most 3 fields (a third one is only reported), stopping at '#'. */
static size_t split_fields(char *line, size_t len, char *field[3], size_t flen[3])
{
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'))
            i++;
        if (i == len || line[i] == '#')
            break;
        size_t start = i;
        while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n' &&
               line[i] != '#')
            i++;
        if (n < 3) {
            field[n] = line + start;
            flen[n] = i - start;
        }
        n++;
    }
    return n;
}

static int parse_id(const char *path, size_t line_no, const char *s, size_t len, size_t max_nodes,
                    size_t *out, hp_err *err)
{
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return hp_fail(err, "%s: line %zu: '%.*s' is not a node id (a non-negative integer)",
                           path, line_no, len > 40 ? 40 : (int)len, s);
        size_t d = (size_t)(s[i] - '0');
        if (v > (SIZE_MAX - d) / 10 || v * 10 + d >= max_nodes)
            return hp_fail(err, "%s: line %zu: node id %.*s is past the limit of %zu nodes "
                                "(ids 0 to %zu)", path, line_no, len > 40 ? 40 : (int)len, s,
                           max_nodes, max_nodes - 1);
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int hp_graph_read_edges(const char *path, size_t max_nodes, hp_graph *g, hp_err *err)
{
    memset(g, 0, sizeof *g);
    if (max_nodes == 0)
        return hp_fail(err, "%s: no node ids allowed (max_nodes 0)", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return hp_fail(err, "%s: cannot open the edge list: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, line_no = 0, n_pairs = 0, pairs_cap = 0, max_id = 0;
    size_t *pairs = NULL;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, fp)) >= 0) {
        line_no++;
        size_t len = (size_t)got;
        if (memchr(line, 0, len)) {
            rc = hp_fail(err, "%s: line %zu contains a NUL byte: not a text edge list", path,
                         line_no);
            break;
        }
        char *field[3];
        size_t flen[3];
        size_t nf = split_fields(line, len, field, flen);
        if (nf == 0)
            continue;
        if (nf != 2) {
            rc = hp_fail(err, "%s: line %zu: %zu field%s; expected two node ids 'u v' per line%s",
                         path, line_no, nf, nf == 1 ? "" : "s",
                         nf > 2 ? " (weighted edge lists are not supported)" : "");
            break;
        }
        size_t u, v;
        if (parse_id(path, line_no, field[0], flen[0], max_nodes, &u, err) != 0 ||
            parse_id(path, line_no, field[1], flen[1], max_nodes, &v, err) != 0 ||
            hp_grow((void **)&pairs, &pairs_cap, 2 * n_pairs + 2, sizeof *pairs,
                    "the edge list", err) != 0) {
            rc = -1;
            break;
        }
        pairs[2 * n_pairs] = u;
        pairs[2 * n_pairs + 1] = v;
        n_pairs++;
        max_id = u > max_id ? u : max_id;
        max_id = v > max_id ? v : max_id;
    }
    if (rc == 0 && ferror(fp))
        rc = hp_fail(err, "%s: read error after line %zu", path, line_no);
    if (rc == 0 && n_pairs == 0)
        rc = hp_fail(err, "%s: no edges: expected lines of two node ids 'u v'", path);
    free(line);
    fclose(fp);
    if (rc == 0 && hp_graph_from_edges(pairs, n_pairs, max_id + 1, g, err) != 0)
        rc = hp_failctx(err, "%s", path);
    free(pairs);
    return rc;
}

/* ---- all-pairs hop distances ---- */

typedef struct bfs_ctx {
    const hp_graph *g;
    double *D;
    size_t **queue; /* one per worker */
} bfs_ctx;

/* Row s of D: -1 where s does not reach. */
static void bfs(const hp_graph *g, size_t s, double *row, size_t *queue)
{
    size_t n = g->n_nodes, head = 0, tail = 0;
    for (size_t v = 0; v < n; v++)
        row[v] = -1;
    row[s] = 0;
    queue[tail++] = s;
    while (head < tail) {
        size_t u = queue[head++];
        double next = row[u] + 1;
        for (size_t k = g->offsets[u]; k < g->offsets[u + 1]; k++) {
            size_t v = g->adj[k];
            if (row[v] < 0) {
                row[v] = next;
                queue[tail++] = v;
            }
        }
    }
}

static int bfs_chunk(void *vctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    bfs_ctx *c = vctx;
    size_t n = c->g->n_nodes;
    for (size_t s = begin + 1; s < end + 1; s++) /* node 0 is done before */
        bfs(c->g, s, c->D + s * n, c->queue[worker]);
    return 0;
}

int hp_graph_distances(const hp_graph *g, int threads, double *D, hp_err *err)
{
    size_t n = g->n_nodes;
    if (n == 0)
        return hp_fail(err, "the graph has no nodes");
    int workers = hp_threads_resolve(threads, n / 64 + 1);
    bfs_ctx c = {.g = g, .D = D};
    if (!(c.queue = hp_calloc((size_t)workers, sizeof *c.queue, "search queues", err)))
        return -1;
    int rc = 0;
    for (int w = 0; rc == 0 && w < workers; w++)
        if (!(c.queue[w] = hp_malloc(n * sizeof **c.queue, "a search queue", err)))
            rc = -1;
    if (rc == 0) {
        /* from node 0 first: a node it does not reach makes the graph disconnected */
        bfs(g, 0, D, c.queue[0]);
        for (size_t v = 0; v < n; v++)
            if (D[v] < 0) {
                rc = hp_fail(err, "the graph is not connected: node %zu cannot be reached from "
                                  "node 0 (%zu nodes, %zu edges)", v, n, g->n_edges);
                break;
            }
    }
    if (rc == 0 && n > 1)
        rc = hp_parallel_for(workers, n - 1, 16, bfs_chunk, &c, err) == 0 ? 0 : -1;
    for (int w = 0; w < workers; w++)
        free(c.queue[w]);
    free(c.queue);
    return rc;
}
