//! How the arithmetic runs: relex's fused CPU kernels ([`cpu`]), the fused CUDA kernels
//! of the GPU path with their CPU reference ([`cuda`], source in `fused.cu`), and the
//! layers the newer families build from them ([`layers`]).

pub(crate) mod cpu;
pub mod cuda;
pub mod layers;
