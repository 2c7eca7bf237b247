//! Minimal NumPy `.npy` reader and writer for 2-D score matrices.
//!
//! Exact CE score matrices are produced offline (typically with NumPy), so
//! `relex eval` reads `.npy` directly. Only what such matrices need is
//! supported: format versions 1.0–3.0, little-endian `<f2`, `<f4`, `<f8`, C
//! order, 2-D shape. Everything else (Fortran order, big-endian, integers,
//! object arrays, pickles) is rejected with an error naming the problem,
//! never misread. Values are converted to `f32` ([`Matrix`]); `f64` input
//! loses precision beyond ~7 digits, which is far below CE score noise.

use std::path::Path;

use half::f16;

use super::{ApproxError, Matrix, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Element types this module reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    F16,
    F32,
    F64,
}

impl NpyDtype {
    fn descr(self) -> &'static str {
        match self {
            NpyDtype::F16 => "<f2",
            NpyDtype::F32 => "<f4",
            NpyDtype::F64 => "<f8",
        }
    }

    fn size(self) -> usize {
        match self {
            NpyDtype::F16 => 2,
            NpyDtype::F32 => 4,
            NpyDtype::F64 => 8,
        }
    }

    fn parse(descr: &str) -> Result<Self> {
        match descr {
            "<f2" => Ok(NpyDtype::F16),
            "<f4" => Ok(NpyDtype::F32),
            "<f8" => Ok(NpyDtype::F64),
            d if d.starts_with('>') => Err(ApproxError::Npy(format!(
                "big-endian dtype {d:?} is not supported; convert with \
                 arr.astype(arr.dtype.newbyteorder('<'))"
            ))),
            d => Err(ApproxError::Npy(format!(
                "unsupported dtype {d:?}; expected little-endian float16/32/64 \
                 ('<f2', '<f4', '<f8')"
            ))),
        }
    }
}

/// Reads a 2-D `.npy` file into a row-major `f32` matrix.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Matrix> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)?;
    read_npy_bytes(&bytes).map_err(|e| match e {
        ApproxError::Npy(m) => ApproxError::Npy(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Parses the bytes of a `.npy` file (see [`read_npy`]).
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Matrix> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(ApproxError::Npy("not a .npy file (bad magic)".into()));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(ApproxError::Npy("truncated header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(ApproxError::Npy(format!("unsupported format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| ApproxError::Npy("truncated header".into()))?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| ApproxError::Npy("header is not valid text".into()))?;
    let (dtype, fortran, shape) = parse_header(header)?;
    if fortran {
        return Err(ApproxError::Npy(
            "Fortran-order arrays are not supported; save with np.ascontiguousarray(arr)".into(),
        ));
    }
    let (rows, cols) = match shape[..] {
        [r, c] => (r, c),
        _ => {
            return Err(ApproxError::Npy(format!(
                "expected a 2-D (queries × items) array, got shape {shape:?}"
            )))
        }
    };
    let count = rows
        .checked_mul(cols)
        .ok_or_else(|| ApproxError::Npy("shape overflows".into()))?;
    let body = &bytes[end..];
    let need = count
        .checked_mul(dtype.size())
        .ok_or_else(|| ApproxError::Npy("shape overflows".into()))?;
    if body.len() < need {
        return Err(ApproxError::Npy(format!(
            "data truncated: {} bytes for {rows} × {cols} {} values",
            body.len(),
            dtype.descr()
        )));
    }
    let body = &body[..need];
    let data: Vec<f32> = match dtype {
        NpyDtype::F16 => body
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        NpyDtype::F32 => body
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        NpyDtype::F64 => body
            .chunks_exact(8)
            .map(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
    };
    Matrix::new(rows, cols, data)
}

/// Parses the Python-literal header dict, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(h: &str) -> Result<(NpyDtype, bool, Vec<usize>)> {
    let h = h.trim();
    if !h.starts_with('{') || !h.ends_with('}') {
        return Err(ApproxError::Npy(format!("header is not a dict: {h:?}")));
    }
    let value_of = |key: &str| -> Result<&str> {
        let pos = [format!("'{key}'"), format!("\"{key}\"")]
            .iter()
            .find_map(|k| h.find(k.as_str()).map(|p| p + k.len()))
            .ok_or_else(|| ApproxError::Npy(format!("header lacks {key:?}: {h:?}")))?;
        let rest = h[pos..].trim_start();
        rest.strip_prefix(':')
            .map(str::trim_start)
            .ok_or_else(|| ApproxError::Npy(format!("malformed header near {key:?}")))
    };
    let descr_v = value_of("descr")?;
    let quote = descr_v
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| {
            ApproxError::Npy(format!(
                "unsupported (structured?) descr {:?}",
                descr_v.chars().take(30).collect::<String>()
            ))
        })?;
    let descr = descr_v[1..]
        .split(quote)
        .next()
        .ok_or_else(|| ApproxError::Npy("unterminated descr".into()))?;
    let dtype = NpyDtype::parse(descr)?;
    let fo = value_of("fortran_order")?;
    let fortran = if fo.starts_with("True") {
        true
    } else if fo.starts_with("False") {
        false
    } else {
        return Err(ApproxError::Npy("malformed fortran_order".into()));
    };
    let sv = value_of("shape")?;
    let inner = sv
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| ApproxError::Npy("malformed shape".into()))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| ApproxError::Npy(format!("bad shape entry {s:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((dtype, fortran, shape))
}

/// Serialises `m` as a version-1.0 `.npy` with the given dtype (header
/// padded so the data starts on a 64-byte boundary, as NumPy does).
pub fn write_npy_bytes(m: &Matrix, dtype: NpyDtype) -> Result<Vec<u8>> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}",
        dtype.descr(),
        m.rows(),
        m.cols()
    );
    let unpadded = MAGIC.len() + 4 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let header_len = total - MAGIC.len() - 4;
    let header_len16 = u16::try_from(header_len)
        .map_err(|_| ApproxError::Npy("header too long for format 1.0".into()))?;
    let mut out = Vec::with_capacity(total + m.data().len() * dtype.size());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len16.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    for &x in m.data() {
        match dtype {
            NpyDtype::F16 => out.extend_from_slice(&f16::from_f32(x).to_le_bytes()),
            NpyDtype::F32 => out.extend_from_slice(&x.to_le_bytes()),
            NpyDtype::F64 => out.extend_from_slice(&(x as f64).to_le_bytes()),
        }
    }
    Ok(out)
}

/// Writes `m` to `path` as `.npy` (see [`write_npy_bytes`]), atomically: a crash
/// leaves the old file or the new one.
pub fn write_npy(path: impl AsRef<Path>, m: &Matrix, dtype: NpyDtype) -> Result<()> {
    let bytes = write_npy_bytes(m, dtype)?;
    crate::files::write_atomic(path.as_ref(), &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Matrix {
        Matrix::from_fn(3, 5, |i, j| i as f32 - 0.25 * j as f32)
    }

    #[test]
    fn round_trip_all_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [NpyDtype::F16, NpyDtype::F32, NpyDtype::F64] {
            let p = dir.path().join(format!("m_{}.npy", dtype.size()));
            write_npy(&p, &sample(), dtype).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            let header_end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!(header_end % 64, 0);
            assert_eq!(read_npy(&p).unwrap(), sample());
        }
    }

    #[test]
    fn reads_numpy_fixture() {
        // Written by NumPy (scripts/eval_reference.py): 60 × 400 float32.
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/approx/eval_matrix.npy"
        );
        let m = read_npy(p).unwrap();
        assert_eq!((m.rows(), m.cols()), (60, 400));
        assert!(m.data().iter().all(|x| x.is_finite()));
        // Missing files are I/O errors, not panics.
        assert!(matches!(
            read_npy("/nonexistent/x.npy"),
            Err(ApproxError::Io(_))
        ));
    }

    fn with_header(dict: &str, body: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn bad_headers_are_clear_errors() {
        let msg = |b: &[u8]| read_npy_bytes(b).unwrap_err().to_string();
        assert!(msg(b"hello world").contains("magic"));
        let f = with_header(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }",
            &[0; 4],
        );
        assert!(msg(&f).contains("Fortran"));
        let f = with_header(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 8],
        );
        assert!(msg(&f).contains("unsupported dtype"));
        let f = with_header(
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 4],
        );
        assert!(msg(&f).contains("big-endian"));
        let f = with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
            &[0; 12],
        );
        assert!(msg(&f).contains("2-D"));
        let f = with_header(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[0; 12],
        );
        assert!(msg(&f).contains("truncated"));
        let f = with_header("{'descr': '<f4', 'shape': (2, 2), }", &[0; 16]);
        assert!(msg(&f).contains("fortran_order"));
        let f = with_header(
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 4],
        );
        assert!(msg(&f).contains("descr"));
        let mut f = with_header("{}", &[]);
        f[8] = 200; // header length beyond the file
        assert!(msg(&f).contains("truncated"));
        let mut f = sample_bytes();
        f[6] = 9;
        assert!(msg(&f).contains("version"));
    }

    fn sample_bytes() -> Vec<u8> {
        write_npy_bytes(&sample(), NpyDtype::F32).unwrap()
    }

    #[test]
    fn version_2_header_and_empty_shape_entries() {
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }";
        let mut v = MAGIC.to_vec();
        v.extend_from_slice(&[2, 0]);
        v.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        v.extend_from_slice(dict.as_bytes());
        v.extend_from_slice(&1.5f64.to_le_bytes());
        v.extend_from_slice(&(-2.0f64).to_le_bytes());
        let m = read_npy_bytes(&v).unwrap();
        assert_eq!(m.data(), &[1.5, -2.0]);
    }
}
