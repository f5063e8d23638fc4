/* metrics.h -- representation similarity between row-paired matrices: CKA (linear and RBF,
 * biased and unbiased), kernel alignment, mutual k-nearest neighbours, CKNNA, SVCCA and
 * orthogonal Procrustes. X is n x p and Y is n x q: the representations of the same n inputs,
 * row i of X paired with row i of Y.
 *
 * Every function takes any strided 2-D views, never modifies them, refuses NaN/Inf and
 * unpaired rows with a message naming `op` (the metric's user-facing name) and the shapes,
 * and returns ENTRO_OK or a status. A score that is 0/0 -- a representation with no
 * variance -- comes back as NaN, not as an error, so a sweep over layers survives a dead
 * layer. The heavy work is dsyrk/dgemm and LAPACK; the rest is O(n^2) loops at most. */
#ifndef ENTRO_METRICS_H
#define ENTRO_METRICS_H
#include "tensor.h"

enum { ENTRO_CKA_AUTO, ENTRO_CKA_FEATURE, ENTRO_CKA_GRAM };

/* Linear CKA and its relatives, from HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = XX^T,
 * L = YY^T:
 *  center = 1, unbiased = 0: linear CKA, ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)
 *     with column-centred X_c, Y_c (the biased HSIC, tr(KHLH)).
 *  center = 1, unbiased = 1: CKA on the unbiased HSIC estimator of Song et al. (2012),
 *     which can be slightly negative.
 *  center = 0, unbiased = 0: uncentred kernel alignment <K, L>_F / (||K||_F ||L||_F).
 * method: ENTRO_CKA_FEATURE works with the p x p, q x q and q x p products ((p+q)^2 n flops),
 * ENTRO_CKA_GRAM with the n x n Gram matrices ((p+q) n^2 flops); AUTO picks the feature
 * space when p + q <= n, the cheaper one. Both give the same number to ~1e-13. Needs n >= 2
 * (n >= 4 when unbiased). */
int entro_metrics_linear_cka(const char *op, const entro_tensor *x, const entro_tensor *y,
                             int center, int unbiased, int method, double *result);

/* CKA with Gaussian kernels k(a, b) = exp(-|a - b|^2 / (2 sigma^2)), sigma_x for X and
 * sigma_y for Y (both > 0); biased (double-centred Gram matrices) or unbiased HSIC. */
int entro_metrics_rbf_cka(const char *op, const entro_tensor *x, const entro_tensor *y,
                          double sigma_x, double sigma_y, int unbiased, double *result);

/* The median of the n(n-1)/2 distances |x_i - x_j|, i < j: the usual default bandwidth of an
 * RBF kernel. Fails (asking for an explicit sigma) when it is 0. */
int entro_metrics_median_distance(const char *op, const char *what, const entro_tensor *x,
                                  double *result);

/* The k nearest other rows of every row of x by inner product of L2-normalised rows
 * (cosine similarity; a zero row has similarity 0 to everything), best first, ties to the
 * lower index: an n x k tensor of 0-based row indices (as doubles). Needs 1 <= k < n.
 * normalize = 0 ranks by raw inner products instead. */
int entro_metrics_knn(const char *op, const entro_tensor *x, int64_t k, int normalize,
                      entro_tensor **idx);

/* Mutual k-NN alignment (Huh et al. 2024): mean over i of |S_X(i) & S_Y(i)| / k, with S(i)
 * the k nearest other rows of row i as in entro_metrics_knn (normalised). In [0, 1]. */
int entro_metrics_mutual_knn(const entro_tensor *x, const entro_tensor *y, int64_t k,
                             double *result);

/* CKNNA as implemented in the platonic-rep repository (metrics.py, cknna with its default
 * unbiased = True): K = XX^T and L = YY^T of the L2-normalised rows (normalize = 1, as their
 * measure_alignment.py does before every metric; 0 uses the raw rows), M_ij = 1 when j is
 * among the k nearest others of i in both K and L (mutual_knn's neighbour sets), and
 *   cknna = HSIC_u(M.K, M.L) / sqrt(HSIC_u(M_K.K, M_K.K) HSIC_u(M_L.L, M_L.L))
 * with "." the elementwise product, M_K (M_L) the kNN mask of K (L) alone, and HSIC_u the
 * unbiased estimator applied to these generally non-symmetric masked matrices exactly as
 * their hsic_unbiased does (first term sum_ij A_ij B_ji). Needs 2 <= k < n and n >= 4. */
int entro_metrics_cknna(const entro_tensor *x, const entro_tensor *y, int64_t k, int normalize,
                        double *result);

/* SVCCA (Raghu et al. 2017): keep the top singular directions of the column-centred X and
 * Y (their left singular vectors U_X, n x dx, and U_Y, n x dy), then CCA between them; the
 * canonical correlations are the singular values of U_X^T U_Y, and the score is their mean.
 * dx, dy: the dimensions kept, 1 <= d <= min(n - 1, features). When var > 0 they are chosen
 * instead as the fewest directions holding a fraction var of each side's variance. Either
 * way a side is cut to its numerical rank (singular values above s_max max(n, p) eps),
 * because directions of zero variance carry no correlation. *rho (optional, may be NULL)
 * receives the min(dx, dy) canonical correlations, descending; *dims_x, *dims_y the
 * dimensions used. */
int entro_metrics_svcca(const entro_tensor *x, const entro_tensor *y, int64_t dx, int64_t dy,
                        double var, double *result, entro_tensor **rho, int64_t *dims_x,
                        int64_t *dims_y);

/* Orthogonal Procrustes similarity: with X~ = X_c / ||X_c||_F and Y~ likewise,
 *   procrustes = ||X~^T Y~||_* (nuclear norm) = 1 - min_Q ||X~ - Y~ Q||_F^2 / 2,
 * the minimum over orthogonal Q (semi-orthogonal, i.e. zero-padding the narrower side, when
 * p != q). In [0, 1]; 1 exactly when X_c = c Y_c Q. The Procrustes distance is
 * sqrt(2 - 2 procrustes). Sides wider than n are first reduced to n columns through their
 * SVD, which leaves the score unchanged. */
int entro_metrics_procrustes(const entro_tensor *x, const entro_tensor *y, double *result);

#endif
