//! Launches of the kernels in `fused.cu`: inputs passed as device pointers in order,
//! then one output buffer (of the type of input `out_like`), then the scalars.
use candle_core::cuda_backend::cudarc::driver::{
    CudaView, LaunchArgs, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
use candle_core::{bail, CudaStorage, Layout, Result};

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/fused.ptx"));
const MODULE: &str = "relex_fused";
/// Threads per block.
const BLOCK: u32 = 256;
/// The widest row kernel holds 32·64 values per row (`INSTANTIATE_ROWS` in fused.cu).
const MAX_VALUES_PER_LANE: usize = 64;

/// How the kernel spreads over the output.
pub enum Grid {
    /// One block per row (element kernels).
    BlockPerRow { rows: usize },
    /// One warp per row of `cols` values held in registers (normalising kernels).
    WarpPerRow { rows: usize, cols: usize },
    /// Grid-stride over `n` 16-byte vectors (the `_vec` element kernels).
    Vectors { n: usize },
}

/// Values per 16-byte vector when every input starts on a vector boundary (candle's
/// buffers are aligned, views may not be), every width in `widths` (rows, heads) is
/// whole vectors and `n` elements make fewer than 2³² vectors.
fn vector_len(inputs: &[(&CudaStorage, &Layout)], widths: &[usize], n: usize) -> Option<usize> {
    use candle_core::backend::BackendStorage;
    let v = 16 / inputs[0].0.dtype().size_in_bytes();
    let aligned = inputs.iter().all(|(_, l)| l.start_offset() % v == 0);
    (aligned && widths.iter().all(|w| w % v == 0) && n / v < u32::MAX as usize).then_some(v)
}

/// An element kernel writing `n` values of input 0's type: its `_vec` twin over
/// 16-byte vectors where [`vector_len`] allows, else the plain kernel with one block
/// per row. `scalars(Some(vector count))` or `scalars(None)` lists the chosen
/// kernel's scalar arguments.
pub fn launch_elements(
    kernel: &str,
    inputs: &[(&CudaStorage, &Layout)],
    n: usize,
    rows: usize,
    widths: &[usize],
    scalars: impl FnOnce(Option<u32>) -> Vec<u32>,
) -> Result<CudaStorage> {
    let (name, grid, u32s) = match vector_len(inputs, widths, n) {
        Some(v) => (
            format!("{kernel}_vec"),
            Grid::Vectors { n: n / v },
            scalars(Some((n / v) as u32)),
        ),
        None => (
            kernel.to_string(),
            Grid::BlockPerRow { rows },
            scalars(None),
        ),
    };
    let scalars = Scalars { u32s, f32s: vec![] };
    launch(&name, inputs, 0, n, grid, scalars)
}

/// A launch's scalar arguments, kept alive until the launch is queued.
#[derive(Default)]
pub struct Scalars {
    pub u32s: Vec<u32>,
    pub f32s: Vec<f32>,
}

pub fn launch(
    kernel: &str,
    inputs: &[(&CudaStorage, &Layout)],
    out_like: usize,
    n_out: usize,
    grid: Grid,
    scalars: Scalars,
) -> Result<CudaStorage> {
    let dev = inputs[out_like].0.device.clone();
    let suffix = match &inputs[out_like].0.slice {
        CudaStorageSlice::F32(_) => "f32",
        CudaStorageSlice::F16(_) => "f16",
        CudaStorageSlice::BF16(_) => "bf16",
        _ => bail!("{kernel}: fused ops take f32, f16 or bf16"),
    };
    let (name, blocks) = match grid {
        Grid::BlockPerRow { rows } => (format!("{kernel}_{suffix}"), rows),
        Grid::WarpPerRow { rows, cols } => {
            let per_lane = cols.div_ceil(32).max(1).next_power_of_two();
            if per_lane > MAX_VALUES_PER_LANE {
                bail!(
                    "{kernel}: rows of {cols} values are longer than the GPU kernels hold (2048)"
                );
            }
            let warps = (BLOCK / 32) as usize;
            (
                format!("{kernel}_{suffix}_{per_lane}"),
                rows.div_ceil(warps),
            )
        }
        Grid::Vectors { n } => (
            format!("{kernel}_{suffix}"),
            n.div_ceil(BLOCK as usize).min(65_535),
        ),
    };
    if blocks == 0 || n_out == 0 {
        bail!("{kernel}: empty input");
    }
    let func = dev.get_or_load_custom_func(&name, MODULE, PTX)?;
    let cfg = LaunchConfig {
        grid_dim: (
            u32::try_from(blocks)
                .map_err(|_| candle_core::Error::Msg(format!("{kernel}: too many rows")))?,
            1,
            1,
        ),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    };
    let views = inputs
        .iter()
        .map(|(st, l)| View::of(st, l))
        .collect::<Result<Vec<_>>>()?;
    let mut builder = func.builder();
    for v in &views {
        v.push(&mut builder);
    }
    macro_rules! run {
        ($t:ty) => {{
            // SAFETY: every element is written by the kernel before it is read.
            let out = unsafe { dev.alloc::<$t>(n_out)? };
            builder.arg(&out);
            for v in &scalars.u32s {
                builder.arg(v);
            }
            for v in &scalars.f32s {
                builder.arg(v);
            }
            // SAFETY: the argument list matches the kernel's signature in fused.cu.
            unsafe { builder.launch(cfg) }.w()?;
            CudaStorage::wrap_cuda_slice(out, dev.clone())
        }};
    }
    Ok(match suffix {
        "f32" => run!(f32),
        "f16" => run!(half::f16),
        _ => run!(half::bf16),
    })
}

/// A contiguous input, narrowed to its layout's offsets.
enum View<'a> {
    F32(CudaView<'a, f32>),
    F16(CudaView<'a, half::f16>),
    BF16(CudaView<'a, half::bf16>),
    U32(CudaView<'a, u32>),
}

impl<'a> View<'a> {
    fn of(s: &'a CudaStorage, l: &Layout) -> Result<Self> {
        let Some((start, end)) = l.contiguous_offsets() else {
            bail!("fused ops take contiguous inputs");
        };
        Ok(match &s.slice {
            CudaStorageSlice::F32(x) => View::F32(x.slice(start..end)),
            CudaStorageSlice::F16(x) => View::F16(x.slice(start..end)),
            CudaStorageSlice::BF16(x) => View::BF16(x.slice(start..end)),
            CudaStorageSlice::U32(x) => View::U32(x.slice(start..end)),
            _ => bail!("fused ops take f32, f16, bf16 or u32 inputs"),
        })
    }

    fn push<'b>(&'b self, builder: &mut LaunchArgs<'b>) {
        match self {
            View::F32(v) => builder.arg(v),
            View::F16(v) => builder.arg(v),
            View::BF16(v) => builder.arg(v),
            View::U32(v) => builder.arg(v),
        };
    }
}
