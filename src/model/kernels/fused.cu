// relex's fused CUDA kernels for the GPU encoder (src/model/fused.rs holds the launches
// and a CPU reference of each). Each one replaces a chain of candle kernels that would
// read and write the same activations several times: bias + activation after a matmul,
// bias + residual + LayerNorm, the split of the fused Q|K|V rows into heads, the masked
// softmax of attention scores and the merge of heads back into rows.
//
// Every kernel computes in f32 whatever the storage type (f16, bf16 or f32), as
// transformers' f16 path does inside its LayerNorm and softmax kernels.

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f32<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}

// Activation codes, as in fused.rs `Act`.
#define ACT_IDENTITY 0
#define ACT_GELU_ERF 1
#define ACT_GELU_TANH 2
#define ACT_RELU 3
#define ACT_TANH 4

__device__ __forceinline__ float activate(float v, int act) {
    switch (act) {
    case ACT_GELU_ERF:
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case ACT_GELU_TANH:
        return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    case ACT_RELU:
        return fmaxf(v, 0.0f);
    case ACT_TANH:
        return tanhf(v);
    default:
        return v;
    }
}

// The element kernels run one block per row, so that no thread divides a 64-bit index
// (emulated on the GPU: it made these kernels 4-5x slower than the memory allows).

// y[r, c] = act(x[r, c] + bias[c]) for x [rows, cols]; one block per row.
template <typename T>
__device__ void bias_act(const T *x, const T *bias, T *y, uint32_t cols, int act) {
    const size_t base = (size_t)blockIdx.x * cols;
    for (uint32_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = to_f32(x[base + c]) + to_f32(bias[c]);
        y[base + c] = from_f32<T>(activate(v, act));
    }
}

// The row's sum over the warp, then mean and inverse deviation; `vals` holds the
// lane's share of the row (VPT values, unused slots zero and outside [0, cols)).
template <int VPT>
__device__ __forceinline__ void row_norm(const float (&vals)[VPT], uint32_t cols, float eps, uint32_t lane,
                                         float &mean, float &inv) {
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < VPT; k++) sum += vals[k];
    mean = warp_sum(sum) / cols;
    float sq = 0.0f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        const float d = c < cols ? vals[k] - mean : 0.0f;
        sq += d * d;
    }
    inv = rsqrtf(warp_sum(sq) / cols + eps);
}

// y = LayerNorm(x + bias + residual) · gamma + beta over each row of [rows, cols];
// params is [3, cols]: bias, gamma, beta. One warp per row, the row in registers
// (cols ≤ 32·VPT).
template <typename T, int VPT>
__device__ void bias_residual_layer_norm(const T *x, const T *residual, const T *params, T *y,
                                         uint32_t rows, uint32_t cols, float eps) {
    const uint32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const uint32_t lane = threadIdx.x % 32;
    if (row >= rows) return;
    const size_t base = (size_t)row * cols;
    float vals[VPT];
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        vals[k] = c < cols ? to_f32(x[base + c]) + to_f32(params[c]) + to_f32(residual[base + c]) : 0.0f;
    }
    float mean, inv;
    row_norm<VPT>(vals, cols, eps, lane, mean, inv);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        if (c < cols) y[base + c] = from_f32<T>((vals[k] - mean) * inv * to_f32(params[cols + c]) + to_f32(params[2 * cols + c]));
    }
}

// BertEmbeddings: y[r] = LayerNorm(table[idx[r]] + table[idx[rows + r]] + table[idx[2·rows + r]])
// with the word, position and token-type tables stacked in `table` (the indices already
// offset into it) and params [3, cols] = (unused), gamma, beta. One warp per row.
template <typename T, int VPT>
__device__ void embed_layer_norm(const uint32_t *idx, const T *table, const T *params, T *y,
                                 uint32_t rows, uint32_t cols, float eps) {
    const uint32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const uint32_t lane = threadIdx.x % 32;
    if (row >= rows) return;
    const T *a = table + (size_t)idx[row] * cols;
    const T *b = table + (size_t)idx[rows + row] * cols;
    const T *t = table + (size_t)idx[2 * rows + row] * cols;
    float vals[VPT];
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        vals[k] = c < cols ? to_f32(a[c]) + to_f32(b[c]) + to_f32(t[c]) : 0.0f;
    }
    float mean, inv;
    row_norm<VPT>(vals, cols, eps, lane, mean, inv);
    T *yr = y + (size_t)row * cols;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        if (c < cols) yr[c] = from_f32<T>((vals[k] - mean) * inv * to_f32(params[cols + c]) + to_f32(params[2 * cols + c]));
    }
}

// x [B*L, 3*H] (the fused Q|K|V matmul, H = heads·head_dim) plus bias [3*H] written as
// [3, B, heads, L, head_dim]: the per-head layout the attention matmuls read. One block
// per token row.
template <typename T>
__device__ void qkv_split(const T *x, const T *bias, T *y, uint32_t batch, uint32_t len,
                          uint32_t heads, uint32_t head_dim) {
    const uint32_t h = heads * head_dim;
    const uint32_t row = blockIdx.x;
    const uint32_t b = row / len, t = row % len;
    const T *xr = x + (size_t)row * 3 * h;
    for (uint32_t col = threadIdx.x; col < 3 * h; col += blockDim.x) {
        const uint32_t which = col / h, c = col - which * h;
        const uint32_t head = c / head_dim, d = c - head * head_dim;
        const size_t o = ((((size_t)which * batch + b) * heads + head) * len + t) * head_dim + d;
        y[o] = from_f32<T>(to_f32(xr[col]) + to_f32(bias[col]));
    }
}

// Row-wise softmax of scores [B, heads, q_rows, len] + mask[b, :] (f32 [B, len], 0 for
// tokens and a large negative number for padding); one warp per row, the row in
// registers (len ≤ 32·VPT).
template <typename T, int VPT>
__device__ void masked_softmax(const T *x, const float *mask, T *y, uint32_t rows,
                               uint32_t rows_per_batch, uint32_t len) {
    const uint32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const uint32_t lane = threadIdx.x % 32;
    if (row >= rows) return;
    const size_t base = (size_t)row * len;
    const float *mr = mask + (size_t)(row / rows_per_batch) * len;
    float vals[VPT];
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        vals[k] = c < len ? to_f32(x[base + c]) + mr[c] : -INFINITY;
        m = fmaxf(m, vals[k]);
    }
    m = warp_max(m);
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        vals[k] = __expf(vals[k] - m);
        s += vals[k];
    }
    const float inv = 1.0f / warp_sum(s);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        const uint32_t c = lane + 32 * k;
        if (c < len) y[base + c] = from_f32<T>(vals[k] * inv);
    }
}

// x [B, heads, len, head_dim] → y [B*len, heads*head_dim]; one block per output row.
template <typename T>
__device__ void merge_heads(const T *x, T *y, uint32_t batch, uint32_t len, uint32_t heads,
                            uint32_t head_dim) {
    const uint32_t h = heads * head_dim;
    const uint32_t row = blockIdx.x;
    const uint32_t b = row / len, t = row % len;
    for (uint32_t c = threadIdx.x; c < h; c += blockDim.x) {
        const uint32_t head = c / head_dim, d = c - head * head_dim;
        y[(size_t)row * h + c] = x[(((size_t)b * heads + head) * len + t) * head_dim + d];
    }
}

// The same three element kernels on 16-byte vectors (8 f16/bf16 or 4 f32 values), for
// rows, heads and pointers that are multiples of a vector (fused.rs checks): one 16-byte
// load and store per thread instead of eight 2-byte ones. Grid-stride over vectors,
// 32-bit index arithmetic (n < 2³² vectors is checked by fused.rs).
template <typename T> struct Vec16 {
    static constexpr uint32_t N = 16 / sizeof(T);
};

template <typename T>
__device__ void bias_act_vec(const T *x, const T *bias, T *y, uint32_t n_vec, uint32_t cols, int act) {
    constexpr uint32_t N = Vec16<T>::N;
    const uint32_t per_row = cols / N;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vec; i += gridDim.x * blockDim.x) {
        const uint32_t c = (i % per_row) * N;
        const uint4 xv = reinterpret_cast<const uint4 *>(x)[i];
        const uint4 bv = *reinterpret_cast<const uint4 *>(bias + c);
        const T *xs = reinterpret_cast<const T *>(&xv);
        const T *bs = reinterpret_cast<const T *>(&bv);
        uint4 ov;
        T *os = reinterpret_cast<T *>(&ov);
#pragma unroll
        for (uint32_t k = 0; k < N; k++) os[k] = from_f32<T>(activate(to_f32(xs[k]) + to_f32(bs[k]), act));
        reinterpret_cast<uint4 *>(y)[i] = ov;
    }
}

template <typename T>
__device__ void qkv_split_vec(const T *x, const T *bias, T *y, uint32_t n_vec, uint32_t batch, uint32_t len,
                              uint32_t heads, uint32_t head_dim) {
    constexpr uint32_t N = Vec16<T>::N;
    const uint32_t h = heads * head_dim;
    const uint32_t per_row = 3 * h / N;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vec; i += gridDim.x * blockDim.x) {
        const uint32_t row = i / per_row, col = (i - row * per_row) * N;
        const uint32_t b = row / len, t = row - b * len;
        const uint32_t which = col / h, c = col - which * h;
        const uint32_t head = c / head_dim, d = c - head * head_dim;
        const uint4 xv = reinterpret_cast<const uint4 *>(x)[i];
        const uint4 bv = *reinterpret_cast<const uint4 *>(bias + col);
        const T *xs = reinterpret_cast<const T *>(&xv);
        const T *bs = reinterpret_cast<const T *>(&bv);
        uint4 ov;
        T *os = reinterpret_cast<T *>(&ov);
#pragma unroll
        for (uint32_t k = 0; k < N; k++) os[k] = from_f32<T>(to_f32(xs[k]) + to_f32(bs[k]));
        const size_t o = ((((size_t)which * batch + b) * heads + head) * len + t) * head_dim + d;
        *reinterpret_cast<uint4 *>(y + o) = ov;
    }
}

template <typename T>
__device__ void merge_heads_vec(const T *x, T *y, uint32_t n_vec, uint32_t len, uint32_t heads, uint32_t head_dim) {
    constexpr uint32_t N = Vec16<T>::N;
    const uint32_t h = heads * head_dim;
    const uint32_t per_row = h / N;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vec; i += gridDim.x * blockDim.x) {
        const uint32_t row = i / per_row, c = (i - row * per_row) * N;
        const uint32_t b = row / len, t = row - b * len;
        const uint32_t head = c / head_dim, d = c - head * head_dim;
        reinterpret_cast<uint4 *>(y)[i] =
            *reinterpret_cast<const uint4 *>(x + (((size_t)b * heads + head) * len + t) * head_dim + d);
    }
}

#define INSTANTIATE(T, SUFFIX)                                                                     \
    extern "C" __global__ void bias_act_##SUFFIX(const T *x, const T *bias, T *y, uint32_t cols,   \
                                                 int act) {                                        \
        bias_act<T>(x, bias, y, cols, act);                                                        \
    }                                                                                              \
    extern "C" __global__ void qkv_split_##SUFFIX(const T *x, const T *bias, T *y, uint32_t batch, \
                                                  uint32_t len, uint32_t heads,                    \
                                                  uint32_t head_dim) {                             \
        qkv_split<T>(x, bias, y, batch, len, heads, head_dim);                                     \
    }                                                                                              \
    extern "C" __global__ void merge_heads_##SUFFIX(const T *x, T *y, uint32_t batch,              \
                                                    uint32_t len, uint32_t heads,                  \
                                                    uint32_t head_dim) {                           \
        merge_heads<T>(x, y, batch, len, heads, head_dim);                                         \
    }                                                                                              \
    extern "C" __global__ void bias_act_vec_##SUFFIX(const T *x, const T *bias, T *y,              \
                                                     uint32_t n_vec, uint32_t cols, int act) {     \
        bias_act_vec<T>(x, bias, y, n_vec, cols, act);                                             \
    }                                                                                              \
    extern "C" __global__ void qkv_split_vec_##SUFFIX(const T *x, const T *bias, T *y,             \
                                                      uint32_t n_vec, uint32_t batch,              \
                                                      uint32_t len, uint32_t heads,                \
                                                      uint32_t head_dim) {                         \
        qkv_split_vec<T>(x, bias, y, n_vec, batch, len, heads, head_dim);                          \
    }                                                                                              \
    extern "C" __global__ void merge_heads_vec_##SUFFIX(const T *x, T *y, uint32_t n_vec,          \
                                                        uint32_t len, uint32_t heads,              \
                                                        uint32_t head_dim) {                       \
        merge_heads_vec<T>(x, y, n_vec, len, heads, head_dim);                                     \
    }

// Row kernels come in widths of 32·VPT values per row; fused.rs picks the narrowest that
// holds the row.
#define INSTANTIATE_ROWS(T, SUFFIX, VPT)                                                           \
    extern "C" __global__ void bias_residual_layer_norm_##SUFFIX##_##VPT(                          \
        const T *x, const T *residual, const T *params, T *y, uint32_t rows, uint32_t cols,        \
        float eps) {                                                                               \
        bias_residual_layer_norm<T, VPT>(x, residual, params, y, rows, cols, eps);                 \
    }                                                                                              \
    extern "C" __global__ void embed_layer_norm_##SUFFIX##_##VPT(                                  \
        const uint32_t *idx, const T *table, const T *params, T *y, uint32_t rows, uint32_t cols,  \
        float eps) {                                                                               \
        embed_layer_norm<T, VPT>(idx, table, params, y, rows, cols, eps);                          \
    }                                                                                              \
    extern "C" __global__ void masked_softmax_##SUFFIX##_##VPT(const T *x, const float *mask,     \
                                                               T *y, uint32_t rows,                \
                                                               uint32_t rows_per_batch,            \
                                                               uint32_t len) {                     \
        masked_softmax<T, VPT>(x, mask, y, rows, rows_per_batch, len);                             \
    }

#define INSTANTIATE_ALL(T, SUFFIX)                                                                 \
    INSTANTIATE(T, SUFFIX)                                                                         \
    INSTANTIATE_ROWS(T, SUFFIX, 1)                                                                 \
    INSTANTIATE_ROWS(T, SUFFIX, 2)                                                                 \
    INSTANTIATE_ROWS(T, SUFFIX, 4)                                                                 \
    INSTANTIATE_ROWS(T, SUFFIX, 8)                                                                 \
    INSTANTIATE_ROWS(T, SUFFIX, 16)                                                                \
    INSTANTIATE_ROWS(T, SUFFIX, 32)                                                                \
    INSTANTIATE_ROWS(T, SUFFIX, 64)

INSTANTIATE_ALL(float, f32)
INSTANTIATE_ALL(__half, f16)
INSTANTIATE_ALL(__nv_bfloat16, bf16)
