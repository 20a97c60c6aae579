/* torch's kl_div (log_target=False) on contiguous CPU buffers, float32 and float64: the porting layer's
 * fused "xlogy" kernel for Paddle tensors (kl_compat/porting/backends.py loads it through ctypes).
 *
 * Every arithmetic operation is the composite's (kl_compat/porting/core.py, formula "xlogy"), in the
 * same order and in the tensors' dtype, so the IEEE rounding of each is the same: the loss term is
 * xlogy(y, y) - y * x, with xlogy(0, y) = 0; the gradients are torch's product rule, dl/dx = -dout * y and
 * dl/dy = (dout * log y + -dout * x) - (-dout * y) / y, nan at y == 0 as in torch. Two things round
 * differently from the composite: log is the C library's (Paddle's log is its own vectorised one), and a
 * sum is pairwise in double (blocks of 128 terms), then rounded once to the dtype.
 *
 * Built with -ffp-contract=off (no fused multiply-add: each product is rounded, as in the composite) and
 * without -ffast-math (nan and inf propagate as IEEE 754 says).
 */
#include <math.h>
#include <stdint.h>

#define BLOCK 128

/* The terms of [lo, hi), stored where asked, and their sum: pairwise over halves; a leaf of at most BLOCK
 * terms forms them in a buffer, then sums it in 8 lanes (a loop the compiler can vectorise). */
#define DEFINE_KERNELS(T, SUFFIX, LOG)                                                                     \
    static double forward_##SUFFIX(int64_t lo, int64_t hi, const T *x, const T *y, T *log_y, T *terms)    \
    {                                                                                                      \
        if (hi - lo > BLOCK) {                                                                             \
            int64_t mid = lo + (hi - lo) / 2;                                                              \
            return forward_##SUFFIX(lo, mid, x, y, log_y, terms) + forward_##SUFFIX(mid, hi, x, y, log_y,  \
                                                                                     terms);               \
        }                                                                                                  \
        T buf[BLOCK];                                                                                      \
        T *logs = log_y ? log_y + lo : buf;                                                                \
        T *out = terms ? terms + lo : buf;                                                                 \
        int64_t m = hi - lo;                                                                               \
        for (int64_t i = 0; i < m; i++)                                                                    \
            logs[i] = LOG(y[lo + i]);                                                                      \
        for (int64_t i = 0; i < m; i++) {                                                                  \
            T yi = y[lo + i];                                                                              \
            T ylogy = yi == 0 ? (T)0 : yi * logs[i]; /* xlogy(0, 0) = 0; a nan y stays nan */              \
            out[i] = ylogy - yi * x[lo + i];                                                               \
        }                                                                                                  \
        double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                         \
        int64_t i = 0;                                                                                     \
        for (; i + 8 <= m; i += 8)                                                                         \
            for (int j = 0; j < 8; j++)                                                                    \
                lane[j] += (double)out[i + j];                                                             \
        for (; i < m; i++)                                                                                 \
            lane[i & 7] += (double)out[i];                                                                 \
        return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));  \
    }                                                                                                      \
                                                                                                           \
    /* The loss: the terms into `terms` (reduction 'none'), or their sum, divided by `divisor` unless it is \
     * 0, into result[0]. log y into `log_y` when given (the backward's). */                       \
    void klc_xlogy_forward_##SUFFIX(int64_t n, const T *x, const T *y, T *log_y, T *terms, T *result,      \
                                    double divisor)                                                        \
    {                                                                                                      \
        double total = forward_##SUFFIX(0, n, x, y, log_y, terms);                                         \
        if (result) {                                                                                      \
            T rounded = (T)total;                                                                          \
            result[0] = divisor != 0 ? rounded / (T)divisor : rounded;                                      \
        }                                                                                                  \
    }                                                                                                      \
                                                                                                           \
    /* dl/dx = -dout * y and dl/dy = (dout * log y + -dout * x) - (-dout * y) / y of n elements, log y    \
     * given; dout one number d, or one per element (dout[i], when d_each). */                            \
    static inline void gradients_##SUFFIX(int64_t n, const T *x, const T *y, const T *log_y, T d,                 \
                                   const T *d_each, T *gx, T *gy)                                          \
    {                                                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                                  \
            T di = d_each ? d_each[i] : d;                                                                 \
            T g = y[i] * -di;                                                                              \
            if (gx)                                                                                        \
                gx[i] = g;                                                                                 \
            if (gy)                                                                                        \
                gy[i] = (log_y[i] * di + x[i] * -di) - g / y[i];                                           \
        }                                                                                                  \
    }                                                                                                      \
                                                                                                           \
    /* The gradients: dout is one number (dout[0], then divided by `divisor` when not 0) when         \
     * `scalar`, else one per element. log_y may be NULL (taken again) and may be gy itself (in place).  \
     * gx or gy may be NULL (not wanted). */                                                               \
    void klc_xlogy_backward_##SUFFIX(int64_t n, const T *x, const T *y, const T *log_y, const T *dout,    \
                                     int scalar, double divisor, T *gx, T *gy)                             \
    {                                                                                                      \
        T d = dout[0];                                                                                     \
        if (scalar && divisor != 0)                                                                         \
            d = d / (T)divisor;                                                                            \
        const T *d_each = scalar ? 0 : dout;                                                               \
        T buf[BLOCK];                                                                                      \
        for (int64_t lo = 0; lo < n; lo += BLOCK) {                                                        \
            int64_t m = n - lo < BLOCK ? n - lo : BLOCK;                                                   \
            const T *logs = log_y ? log_y + lo : buf;                                                      \
            if (!log_y && gy)                                                                              \
                for (int64_t i = 0; i < m; i++)                                                            \
                    buf[i] = LOG(y[lo + i]);                                                               \
            /* (the four variants spelled out: each a loop without branches, which vectorises) */          \
            if (d_each)                                                                                    \
                gradients_##SUFFIX(m, x + lo, y + lo, logs, d, d_each + lo, gx ? gx + lo : 0, gy ? gy + lo : 0); \
            else if (gx && gy)                                                                             \
                gradients_##SUFFIX(m, x + lo, y + lo, logs, d, 0, gx + lo, gy + lo);                       \
            else if (gx)                                                                                   \
                gradients_##SUFFIX(m, x + lo, y + lo, logs, d, 0, gx + lo, 0);                             \
            else if (gy)                                                                                   \
                gradients_##SUFFIX(m, x + lo, y + lo, logs, d, 0, 0, gy + lo);                             \
        }                                                                                                  \
    }

DEFINE_KERNELS(float, f32, logf)
DEFINE_KERNELS(double, f64, log)
