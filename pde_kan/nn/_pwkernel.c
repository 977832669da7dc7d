/* Fused CPU kernels for MetaKAN's piecewise-linear coefficient generation (pde_kan.nn._metakan_autograd).
 *
 * A scalar embedding e through a one-input ReLU hypernet is piecewise linear: on segment t (the number of sorted
 * breakpoints s below e) the edge's numbers are W[c] = A[t, c] e + B[t, c]. In torch operations this takes a
 * bucketize, two row gathers and a multiply-add in forward, and in backward the same again plus a row-wise dot
 * product and two per-segment sums (index_add), each one pass over (edges x numbers) memory. These kernels do the
 * forward in one pass, and the backward in two (regenerating W from the saved segments, then all gradients at
 * once, the per-segment sums kept in a small local table); with them a MetaKAN training step costs 1.2x a KAN
 * step on the CPU instead of 1.7-2x (benchmarks/layer_speed.py, docs/metakan.md).
 *
 * The module takes raw addresses and sizes; pde_kan/nn/_metakan_autograd.py checks dtype, device and contiguity
 * before calling and runs the torch operations where the module was not built. Results equal
 * the torch operations' up to the order of floating-point summation (the per-segment sums accumulate in
 * double here). Single-threaded, the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

#define BLOCK 64

/* CALL with `cc` the row length c, a compile-time constant for the common ones (8: splines only, 9: with the base
 * weight), so that the compiler unrolls and vectorises the per-row loops of the always-inlined bodies. */
#define WITH_ROW_LENGTH(c, CALL)   \
    do {                           \
        if ((c) == 8) {            \
            const int64_t cc = 8;  \
            CALL;                  \
        } else if ((c) == 9) {     \
            const int64_t cc = 9;  \
            CALL;                  \
        } else {                   \
            const int64_t cc = (c); \
            CALL;                  \
        }                          \
    } while (0)

/* The kernels over a number type T. Segments are searched a block of edges at a time, vectorised over the edges:
 * seg = number of breakpoints strictly below e (torch.bucketize(e, s), right=False). */
#define DEFINE_KERNELS(T, SUF)                                                                                    \
    static inline __attribute__((always_inline)) void generate_body_##SUF(                                       \
        const T *restrict e, int64_t n_edges, const T *restrict s, int64_t h, const T *restrict a,                \
        const T *restrict b, const int64_t c, T *restrict w, uint8_t *restrict seg_out,                           \
        const uint8_t *restrict seg_in) {                                                                         \
        int32_t cnt[BLOCK];                                                                                       \
        for (int64_t k0 = 0; k0 < n_edges; k0 += BLOCK) {                                                         \
            const int64_t m = n_edges - k0 < BLOCK ? n_edges - k0 : BLOCK;                                        \
            const T *eb = e + k0;                                                                                 \
            if (seg_in) {                                                                                         \
                for (int64_t i = 0; i < m; ++i) cnt[i] = seg_in[k0 + i];                                          \
            } else {                                                                                              \
                for (int64_t i = 0; i < m; ++i) cnt[i] = 0;                                                       \
                for (int64_t j = 0; j < h; ++j) {                                                                 \
                    const T sj = s[j];                                                                            \
                    for (int64_t i = 0; i < m; ++i) cnt[i] += sj < eb[i];                                         \
                }                                                                                                 \
                if (seg_out)                                                                                      \
                    for (int64_t i = 0; i < m; ++i) seg_out[k0 + i] = (uint8_t)cnt[i];                            \
            }                                                                                                     \
            for (int64_t i = 0; i < m; ++i) {                                                                     \
                const T ek = eb[i];                                                                               \
                const T *ar = a + cnt[i] * c, *br = b + cnt[i] * c;                                               \
                T *wr = w + (k0 + i) * c;                                                                         \
                for (int64_t j = 0; j < c; ++j) wr[j] = ar[j] * ek + br[j];                                       \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
                                                                                                                  \
    static void generate_##SUF(const T *restrict e, int64_t n_edges, const T *restrict s, int64_t h,              \
                               const T *restrict a, const T *restrict b, int64_t c, T *restrict w,                \
                               uint8_t *restrict seg_out, const uint8_t *restrict seg_in) {                       \
        WITH_ROW_LENGTH(c, generate_body_##SUF(e, n_edges, s, h, a, b, cc, w, seg_out, seg_in));                  \
    }                                                                                                             \
                                                                                                                  \
    /* g_e[k] = sum_c gw[k,c] A[t_k,c]; acc_a[t,c] += gw[k,c] e_k; acc_b[t,c] += gw[k,c] (acc NULL: none) */       \
    static inline __attribute__((always_inline)) void grads_body_##SUF(                                          \
        const T *restrict gw, const T *restrict e, const uint8_t *restrict seg, int64_t n_edges,                  \
        const T *restrict a, const int64_t c, T *restrict g_e, double *restrict acc_a, double *restrict acc_b) {  \
        for (int64_t k = 0; k < n_edges; ++k) {                                                                   \
            const int64_t t = seg[k];                                                                             \
            const T *gr = gw + k * c;                                                                             \
            if (g_e) {                                                                                            \
                const T *ar = a + t * c;                                                                          \
                T dot = 0;                                                                                        \
                for (int64_t j = 0; j < c; ++j) dot += gr[j] * ar[j];                                             \
                g_e[k] = dot;                                                                                     \
            }                                                                                                     \
            if (acc_a) {                                                                                          \
                const double ek = (double)e[k];                                                                   \
                double *pa = acc_a + t * c, *pb = acc_b + t * c;                                                  \
                for (int64_t j = 0; j < c; ++j) {                                                                 \
                    pb[j] += (double)gr[j];                                                                       \
                    pa[j] += (double)gr[j] * ek;                                                                  \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
                                                                                                                  \
    static int grads_##SUF(const T *restrict gw, const T *restrict e, const uint8_t *restrict seg,                \
                           int64_t n_edges, const T *restrict a, int64_t n_seg, int64_t c, T *restrict g_e,       \
                           T *restrict g_a, T *restrict g_b) {                                                    \
        const int64_t table = n_seg * c;                                                                          \
        double *acc = NULL;                                                                                       \
        if (g_a || g_b) {                                                                                         \
            acc = (double *)calloc((size_t)(2 * table), sizeof(double));                                          \
            if (!acc) return -1;                                                                                  \
        }                                                                                                         \
        double *acc_a = acc, *acc_b = acc ? acc + table : NULL;                                                   \
        WITH_ROW_LENGTH(c, grads_body_##SUF(gw, e, seg, n_edges, a, cc, g_e, acc_a, acc_b));                      \
        for (int64_t i = 0; acc && i < table; ++i) {                                                              \
            if (g_a) g_a[i] = (T)acc_a[i];                                                                        \
            if (g_b) g_b[i] = (T)acc_b[i];                                                                        \
        }                                                                                                         \
        free(acc);                                                                                                \
        return 0;                                                                                                 \
    }

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)

#define PTR(T, x) ((T *)(uintptr_t)(x))

/* generate(double_flag, e, n_edges, s, h, a, b, c, w, seg_out, seg_in): addresses as ints, 0 for none */
static PyObject *py_generate(PyObject *self, PyObject *args) {
    (void)self;
    int f64;
    unsigned long long e, s, a, b, w, seg_out, seg_in;
    long long n_edges, h, c;
    if (!PyArg_ParseTuple(args, "pKLKLKKLKKK", &f64, &e, &n_edges, &s, &h, &a, &b, &c, &w, &seg_out, &seg_in))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (f64)
        generate_f64(PTR(double, e), n_edges, PTR(double, s), h, PTR(double, a), PTR(double, b), c,
                     PTR(double, w), PTR(uint8_t, seg_out), PTR(const uint8_t, seg_in));
    else
        generate_f32(PTR(float, e), n_edges, PTR(float, s), h, PTR(float, a), PTR(float, b), c,
                     PTR(float, w), PTR(uint8_t, seg_out), PTR(const uint8_t, seg_in));
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* grads(double_flag, gw, e, seg, n_edges, a, n_seg, c, g_e, g_a, g_b): addresses as ints, 0 for not wanted */
static PyObject *py_grads(PyObject *self, PyObject *args) {
    (void)self;
    int f64, rc;
    unsigned long long gw, e, seg, a, g_e, g_a, g_b;
    long long n_edges, n_seg, c;
    if (!PyArg_ParseTuple(args, "pKKKLKLLKKK", &f64, &gw, &e, &seg, &n_edges, &a, &n_seg, &c, &g_e, &g_a, &g_b))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (f64)
        rc = grads_f64(PTR(double, gw), PTR(double, e), PTR(uint8_t, seg), n_edges, PTR(double, a), n_seg, c,
                       PTR(double, g_e), PTR(double, g_a), PTR(double, g_b));
    else
        rc = grads_f32(PTR(float, gw), PTR(float, e), PTR(uint8_t, seg), n_edges, PTR(float, a), n_seg, c,
                       PTR(float, g_e), PTR(float, g_a), PTR(float, g_b));
    Py_END_ALLOW_THREADS
    if (rc) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"generate", py_generate, METH_VARARGS, "W = A[seg] * e + B[seg] (segments searched or given)."},
    {"grads", py_grads, METH_VARARGS, "Gradients of sum(gw * W) w.r.t. e, A and B."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pwkernel", NULL, -1, methods};

PyMODINIT_FUNC PyInit__pwkernel(void) { return PyModule_Create(&module); }
