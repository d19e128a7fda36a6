/* The benchmark's hand-written C reference. experiments/benchmark.py builds it at run time with the
 * system C compiler (cc -O3 -march=native -ffast-math -fopenmp -shared -fPIC ... -lm) and calls
 * xor_train through ctypes; its CUDA reference pastes the part between BEGIN POINT and END POINT
 * into a kernel, with EXP defined as __expf.
 *
 * The workload: the 2-2-1 sigmoid MLP on the four XOR points, half_sse, full-batch gradient
 * descent, float32, one network per seed, `steps` steps each. The seeds lie in SIMD lanes: OpenMP
 * hands the blocks of LANES seeds to the cores as they come free (so that a core that other work
 * slows down takes fewer); inside a block the loop over steps runs outside
 * a loop over the block's seeds that the compiler vectorises (one seed per vector lane, the
 * exponential inlined), so the block's parameters stay in registers and L1 for all the steps. The
 * four XOR points are written out: their inputs are the constants 0 and 1, which the compiler
 * folds.
 *
 * Parameters, param-major: 9 arrays of n floats (p[k * n + i] is parameter k of seed i), in the
 * order w11 w12 w21 w22 b1 b2 v1 v2 c. Hidden unit j gets z_j = x1 w1j + x2 w2j + b_j,
 * h_j = sigmoid(z_j); the output a = sigmoid(h1 v1 + h2 v2 + c). Per point, with
 * E = (a - t)^2 / 2, d = dE/dz_out = (a - t) a (1 - a) and d_j = d v_j h_j (1 - h_j); the gradient
 * sums over the points (x1 d_j, x2 d_j, d_j, h_j d, d). loss[i] is the half_sse of the last step,
 * before its update, as fnnet.train.fit(history="final") reports it.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* e^x in float32 as Cephes's expf computes it: x = n ln 2 + r (ln 2 in two parts), a degree-5
 * polynomial for e^r, 2^n from the exponent bits; within about 2 ulp for |x| < 87. Written out so
 * that the compiler inlines and vectorises it: a call to the vector math library (what expf
 * becomes under -ffast-math) would spill every vector register at each of the 12 calls a step. */
static inline float exp_f32(float x)
{
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    const float y = q * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

#ifndef EXP
#define EXP exp_f32
#endif

/* BEGIN POINT */
#define SIGMOID(z) (1.0f / (1.0f + EXP(-(z))))

/* one XOR point (x1, x2, t): its loss into L, its gradient into the g* accumulators */
#define POINT(x1, x2, t)                                                                   \
    do {                                                                                   \
        const float h1 = SIGMOID((x1) * w11 + (x2) * w21 + b1);                            \
        const float h2 = SIGMOID((x1) * w12 + (x2) * w22 + b2);                            \
        const float a = SIGMOID(h1 * v1 + h2 * v2 + c);                                    \
        const float e = a - (t);                                                           \
        L += 0.5f * e * e;                                                                 \
        const float d = e * a * (1.0f - a);                                                \
        const float d1 = d * v1 * h1 * (1.0f - h1), d2 = d * v2 * h2 * (1.0f - h2);        \
        g11 += (x1) * d1;                                                                  \
        g12 += (x1) * d2;                                                                  \
        g21 += (x2) * d1;                                                                  \
        g22 += (x2) * d2;                                                                  \
        gb1 += d1;                                                                         \
        gb2 += d2;                                                                         \
        gv1 += h1 * d;                                                                     \
        gv2 += h2 * d;                                                                     \
        gc += d;                                                                           \
    } while (0)

/* one full-batch step of one seed, its parameters in the scalars w11 ... c */
#define STEP(lr)                                                                           \
    do {                                                                                   \
        float g11 = 0.0f, g12 = 0.0f, g21 = 0.0f, g22 = 0.0f, gb1 = 0.0f, gb2 = 0.0f;      \
        float gv1 = 0.0f, gv2 = 0.0f, gc = 0.0f;                                           \
        L = 0.0f;                                                                          \
        POINT(0.0f, 0.0f, 0.0f);                                                           \
        POINT(0.0f, 1.0f, 1.0f);                                                           \
        POINT(1.0f, 0.0f, 1.0f);                                                           \
        POINT(1.0f, 1.0f, 0.0f);                                                           \
        w11 -= (lr) * g11;                                                                 \
        w12 -= (lr) * g12;                                                                 \
        w21 -= (lr) * g21;                                                                 \
        w22 -= (lr) * g22;                                                                 \
        b1 -= (lr) * gb1;                                                                  \
        b2 -= (lr) * gb2;                                                                  \
        v1 -= (lr) * gv1;                                                                  \
        v2 -= (lr) * gv2;                                                                  \
        c -= (lr) * gc;                                                                    \
    } while (0)
/* END POINT */

/* seeds per block: the loop over a block's seeds is the one the compiler vectorises */
#ifndef LANES
#define LANES 32
#endif

/* Trains seeds 0..n-1 from p0 for `steps` steps at learning rate lr: the final parameters into p
 * (the layout of p0; may be p0 itself), the loss of the last step into loss (NaN for 0 steps). */
void xor_train(const float *p0, float *p, float *loss, long n, long steps, float lr)
{
#pragma omp parallel for schedule(dynamic)
    for (long start = 0; start < n; start += LANES) {
        const long m = n - start < LANES ? n - start : LANES;
        float P[9][LANES], Ls[LANES];
        for (int k = 0; k < 9; k++)
            for (long j = 0; j < LANES; j++)
                P[k][j] = j < m ? p0[k * n + start + j] : 0.0f;
        for (long j = 0; j < LANES; j++)
            Ls[j] = NAN;
        for (long s = 0; s < steps; s++) {
#pragma omp simd
            for (long j = 0; j < LANES; j++) {
                float w11 = P[0][j], w12 = P[1][j], w21 = P[2][j], w22 = P[3][j];
                float b1 = P[4][j], b2 = P[5][j], v1 = P[6][j], v2 = P[7][j], c = P[8][j];
                float L;
                STEP(lr);
                P[0][j] = w11;
                P[1][j] = w12;
                P[2][j] = w21;
                P[3][j] = w22;
                P[4][j] = b1;
                P[5][j] = b2;
                P[6][j] = v1;
                P[7][j] = v2;
                P[8][j] = c;
                Ls[j] = L;
            }
        }
        for (int k = 0; k < 9; k++)
            for (long j = 0; j < m; j++)
                p[k * n + start + j] = P[k][j];
        for (long j = 0; j < m; j++)
            loss[start + j] = Ls[j];
    }
}

/* how many threads xor_train uses: OpenMP's default, one per core unless OMP_NUM_THREADS says */
int xor_threads(void)
{
    return omp_get_max_threads();
}
