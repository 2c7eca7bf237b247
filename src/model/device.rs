//! Where a model runs: `cpu` (relex's fused kernels), `cuda[:N]` (candle's CUDA backend,
//! built with the `cuda` feature), or `auto` (the first GPU when there is one).

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use super::ModelError;

/// A device as a user names it on the command line or picks it in the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DeviceSpec {
    /// relex's fused CPU kernels (the default).
    #[default]
    Cpu,
    /// GPU `N` through candle's CUDA backend.
    Cuda(usize),
    /// The first CUDA GPU when relex was built with CUDA and one is present, else the CPU.
    Auto,
    /// The GPU code path (candle tensor ops) run on the CPU: slower than `cpu`, but it lets
    /// a machine without a GPU check that path against the fused kernels.
    CandleCpu,
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::CandleCpu => f.write_str("cpu-candle"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "auto" => Ok(DeviceSpec::Auto),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            "cpu-candle" => Ok(DeviceSpec::CandleCpu),
            _ => match s.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceSpec::Cuda).map_err(|_| {
                    format!("`{s}`: the GPU number after `cuda:` must be a whole number")
                }),
                None => Err(format!(
                    "unknown device `{s}`: expected cpu, cuda, cuda:N or auto"
                )),
            },
        }
    }
}

/// Parses a comma-separated device list (`cuda:0,cuda:1`); duplicates are an error, since
/// two workers on one GPU only compete for it.
pub fn parse_device_list(s: &str) -> Result<Vec<DeviceSpec>, String> {
    let mut out: Vec<DeviceSpec> = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let d: DeviceSpec = part.parse()?;
        if out.contains(&d) && d != DeviceSpec::Cpu && d != DeviceSpec::CandleCpu {
            return Err(format!("device `{d}` is listed twice"));
        }
        out.push(d);
    }
    if out.is_empty() {
        return Err("no device given".into());
    }
    Ok(out)
}

/// Numeric precision of the GPU path. The CPU kernels always compute in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Precision {
    /// f16 weights and activations; softmax and LayerNorm accumulate in f32 (candle's
    /// kernels do), matmuls accumulate in f32 (cuBLAS compute type).
    #[default]
    F16,
    /// f16 matmuls (weights and matmul inputs in f16), everything else in f32: the
    /// residual stream, LayerNorm, softmax, GELU and the head. Closer to f32 scores at
    /// some speed.
    Mixed,
    Bf16,
    F32,
}

impl Precision {
    /// The type of the weights and of the matmuls' inputs.
    pub fn gemm_dtype(self) -> DType {
        match self {
            Precision::F16 | Precision::Mixed => DType::F16,
            Precision::Bf16 => DType::BF16,
            Precision::F32 => DType::F32,
        }
    }

    /// The type of activations between matmuls.
    pub fn act_dtype(self) -> DType {
        match self {
            Precision::Mixed => DType::F32,
            other => other.gemm_dtype(),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F16 => "f16",
            Precision::Mixed => "mixed",
            Precision::Bf16 => "bf16",
            Precision::F32 => "f32",
        })
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f16" | "fp16" | "half" => Ok(Precision::F16),
            "mixed" | "f16-mixed" => Ok(Precision::Mixed),
            "bf16" => Ok(Precision::Bf16),
            "f32" | "fp32" => Ok(Precision::F32),
            other => Err(format!(
                "unknown precision `{other}`: expected f16, mixed, bf16 or f32"
            )),
        }
    }
}

/// True when this binary was built with the `cuda` feature.
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// What a spec resolves to: the fused CPU kernels, or a candle device for the tensor path.
#[derive(Debug, Clone)]
pub enum Backend {
    FusedCpu,
    Candle(Device),
}

/// Resolves a spec to a backend, failing with a message that says how to get CUDA.
pub fn resolve(spec: DeviceSpec) -> Result<Backend, ModelError> {
    match spec {
        DeviceSpec::Cpu => Ok(Backend::FusedCpu),
        DeviceSpec::CandleCpu => Ok(Backend::Candle(Device::Cpu)),
        DeviceSpec::Cuda(n) => cuda_device(n).map(Backend::Candle),
        DeviceSpec::Auto => Ok(match cuda_device(0) {
            Ok(d) => Backend::Candle(d),
            Err(_) => Backend::FusedCpu,
        }),
    }
}

fn cuda_device(n: usize) -> Result<Device, ModelError> {
    if !CUDA_BUILT {
        return Err(ModelError::Input {
            message: format!(
                "device cuda:{n}: this relex was built without CUDA (build it with \
                 scripts/build_cuda.sh, or `cargo build --release --features cuda`)"
            ),
        });
    }
    Device::new_cuda(n).map_err(|e| ModelError::Input {
        message: format!("device cuda:{n} is not available: {e}"),
    })
}

/// The devices a user can pick here: the CPU, and each CUDA GPU found (CUDA builds only).
pub fn available() -> Vec<DeviceSpec> {
    let mut out = vec![DeviceSpec::Cpu];
    if CUDA_BUILT {
        // candle has no device count; GPUs are numbered densely, so probe until one fails.
        for n in 0..16 {
            if Device::new_cuda(n).is_err() {
                break;
            }
            out.push(DeviceSpec::Cuda(n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_print_back() {
        for (s, d) in [
            ("cpu", DeviceSpec::Cpu),
            ("CUDA", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            ("auto", DeviceSpec::Auto),
            ("cpu-candle", DeviceSpec::CandleCpu),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), d);
        }
        assert_eq!(
            DeviceSpec::Cuda(2).to_string().parse(),
            Ok(DeviceSpec::Cuda(2))
        );
        assert!("cuda:x"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("whole number"));
        assert!("tpu"
            .parse::<DeviceSpec>()
            .unwrap_err()
            .contains("unknown device"));
    }

    #[test]
    fn device_lists_refuse_repeats() {
        assert_eq!(
            parse_device_list("cuda:0, cuda:1").unwrap(),
            vec![DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]
        );
        assert!(parse_device_list("cuda:0,cuda:0")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_device_list(" , ").is_err());
    }

    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        if CUDA_BUILT {
            return;
        }
        let err = resolve(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert!(
            err.contains("built without CUDA") && err.contains("build_cuda.sh"),
            "{err}"
        );
        assert!(matches!(resolve(DeviceSpec::Auto), Ok(Backend::FusedCpu)));
        assert_eq!(available(), vec![DeviceSpec::Cpu]);
    }
}
