//! With the `cuda` feature, compiles relex's fused kernels (src/model/kernels/fused.cu) to PTX
//! for `CUDA_COMPUTE_CAP` (as candle-kernels does; 90 = H100/H200 when unset). Without
//! the feature it does nothing, so the default build needs no CUDA toolkit.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/model/kernels/fused.cu");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo::rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| {
        println!("cargo::warning=CUDA_COMPUTE_CAP is not set: compiling relex's kernels for 90 (H100/H200)");
        "90".into()
    });
    let cap: String = cap.chars().filter(char::is_ascii_digit).collect();
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("fused.ptx");
    let nvcc = std::env::var("NVCC").unwrap_or_else(|_| "nvcc".into());
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("-arch=sm_{cap}"))
        .arg("src/model/kernels/fused.cu")
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("could not run {nvcc} (the `cuda` feature needs the CUDA compiler; see scripts/build_cuda.sh): {e}"));
    assert!(
        status.success(),
        "{nvcc} failed on src/model/kernels/fused.cu"
    );
}
