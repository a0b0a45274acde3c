/* The two skinny products of a PCA pass (common/pca_kernel.c), internal to the library.
 *
 * A block holds m centred rows of length dp (the dimension padded with zeros to a multiple
 * of PCA_KERNEL_COLS); a panel holds lp vectors of length dp (lp a multiple of
 * PCA_KERNEL_GROUP, the padding vectors zero), stored one vector a row: "transposed", so both
 * products run along the rows' contiguous dimension. Rows of blocks and panels are ld
 * apart (pca_kernel_stride): not a multiple of 4 KB, so that the rows read together do not
 * all fall into the same L1 cache set. */
#ifndef HYPLORA_PCA_KERNEL_H
#define HYPLORA_PCA_KERNEL_H

#include <stddef.h>

enum {
    PCA_KERNEL_COLS = 16, /* dp is a multiple of this: two 8-float vectors, no tail loops */
    PCA_KERNEL_GROUP = 5, /* lp is a multiple of this: the panel vectors done at once */
};

typedef struct pca_kernels {
    /* y[i*lp + a] = sum_j<dp xb[i*ld + j] * qt[a*ld + j], in float */
    void (*apply)(const float *xb, size_t m, size_t dp, size_t ld, const float *qt, size_t lp,
                  float *y);
    /* wt[a*ld + j] += sum_i y[i*lp + a] * xb[i*ld + j] for j < dp: summed over the block in
     * float, then added to the double accumulator wt */
    void (*accumulate)(const float *xb, size_t m, size_t dp, size_t ld, const float *y,
                       size_t lp, double *wt);
    const char *name;
} pca_kernels;

/* The row stride for rows of dp floats: one 64-byte line more, so that consecutive rows
 * start in different cache sets whatever dp is */
static inline size_t pca_kernel_stride(size_t dp)
{
    return dp + PCA_KERNEL_COLS;
}

/* The AVX2/FMA kernels when this CPU has them, else portable C. PCA_KERNEL=generic in the
 * environment forces the portable ones (to compare them). */
const pca_kernels *pca_kernels_get(void);

#endif
