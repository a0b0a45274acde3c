/* Grouped-query causal attention with a padding mask (forward_internal.h). Per sequence and
 * head the scores and the weighted sum are two sgemm calls on strided views of q, k and v,
 * so no head is copied out; the mask and the softmax run on the T x T score rows. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "forward_internal.h"

/* Softmax of row[0, n) in place (max subtracted for range), zeros in [n, T). */
static void masked_softmax(float *row, int n, int T)
{
    float mx = row[0];
    for (int j = 1; j < n; j++)
        if (row[j] > mx)
            mx = row[j];
    double sum = 0;
    for (int j = 0; j < n; j++) {
        row[j] = expf(row[j] - mx);
        sum += row[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++)
        row[j] *= inv;
    memset(row + n, 0, (size_t)(T - n) * sizeof *row);
}

void fwd_attention(float *att, float *probs, const float *q, const float *k, const float *v,
                   const int *lengths, int B, int T, int H, int KV, int hd)
{
    int qrow = H * hd, kvrow = KV * hd, group = H / KV;
    float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        const float *qb = q + (size_t)b * T * qrow;
        const float *kb = k + (size_t)b * T * kvrow, *vb = v + (size_t)b * T * kvrow;
        for (int h = 0; h < H; h++) {
            int kvh = h / group;
            float *p = probs + ((size_t)b * H + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, qb + (size_t)h * hd, qrow,
                        kb + (size_t)kvh * hd, kvrow, 0.0f, p, T);
            /* Query t sees keys up to t and never a padded one: a padded query (t >= len)
             * sees the whole real sequence, which keeps its row finite; its output is
             * discarded by the caller. */
            for (int t = 0; t < T; t++) {
                int n = t + 1 < len ? t + 1 : len;
                masked_softmax(p + (size_t)t * T, n, T);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, vb + (size_t)kvh * hd,
                        kvrow, 0.0f, att + (size_t)b * T * qrow + (size_t)h * hd, qrow);
        }
    }
}
