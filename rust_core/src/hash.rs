//! BLAKE3 hashing of any Python buffer.
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Work at least this large (in bytes) runs with the GIL released; below it, releasing and
/// re-acquiring the GIL costs more than the hashing it would let other threads overlap with.
pub(crate) const DETACH_THRESHOLD: usize = 64 * 1024;

/// BLAKE3 digest (32 bytes) of `data`.
pub(crate) fn digest(data: &[u8]) -> [u8; 32] {
    *blake3::hash(data).as_bytes()
}

/// Runs `work` over the bytes of `data` (bytes, bytearray, memoryview or any C-contiguous
/// buffer), with the GIL released when `data` is a large `bytes`.
fn with_buffer<R, F>(py: Python<'_>, data: &Bound<'_, PyAny>, work: F) -> PyResult<R>
where
    F: FnOnce(&[u8]) -> R + Send,
    R: Send,
{
    if let Ok(bytes) = data.cast_exact::<PyBytes>() {
        // bytes are immutable, so the slice stays valid while other threads run.
        let slice = bytes.as_bytes();
        return Ok(if slice.len() >= DETACH_THRESHOLD {
            py.detach(|| work(slice))
        } else {
            work(slice)
        });
    }
    let buffer = PyUntypedBuffer::get(data)?;
    if !buffer.is_c_contiguous() {
        return Err(PyBufferError::new_err(
            "a C-contiguous buffer is required; copy it with bytes(...) first",
        ));
    }
    let len = buffer.len_bytes();
    let slice: &[u8] = if len == 0 {
        &[]
    } else {
        // SAFETY: the buffer is exported (and so kept alive and un-resized) until `buffer` drops,
        // it is C-contiguous and `len_bytes` long. The GIL stays held, because a mutable buffer
        // (bytearray, a memoryview of one) could otherwise be written to while we read it.
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, len) }
    };
    Ok(work(slice))
}

/// BLAKE3 digest (32 bytes) of `data`: bytes, bytearray, memoryview or any C-contiguous buffer.
#[pyfunction]
#[pyo3(signature = (data, /))]
fn hash<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let out = with_buffer(py, data, digest)?;
    Ok(PyBytes::new(py, &out))
}

/// Incremental BLAKE3, for data that arrives in pieces (a streamed upload or download):
/// `Hasher(a).update(b)` then `digest()` equals `hash(a + b)`.
#[pyclass(module = "rust_core", name = "Hasher")]
struct Hasher {
    inner: blake3::Hasher,
}

#[pymethods]
impl Hasher {
    #[new]
    #[pyo3(signature = (data = None, /))]
    fn new(py: Python<'_>, data: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let mut hasher = Hasher {
            inner: blake3::Hasher::new(),
        };
        if let Some(data) = data {
            hasher.update(py, data)?;
        }
        Ok(hasher)
    }

    /// Feeds more bytes (any buffer, as for `hash`).
    #[pyo3(signature = (data, /))]
    fn update(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let inner = &mut self.inner;
        with_buffer(py, data, |slice| {
            inner.update(slice);
        })
    }

    /// The digest (32 bytes) of everything fed so far; the hasher can go on being fed.
    fn digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.finalize().as_bytes())
    }

    /// `digest()` as 64 lower-case hex characters.
    fn hexdigest(&self) -> String {
        self.inner.finalize().to_hex().to_string()
    }

    /// An independent hasher with the same state.
    fn copy(&self) -> Self {
        Hasher {
            inner: self.inner.clone(),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Hasher>()?;
    m.add_function(wrap_pyfunction!(hash, m)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_input_matches_the_published_vector() {
        // First 32 bytes of the `hash` field for input_len 0 in BLAKE3's test_vectors.json.
        assert_eq!(
            hex(&digest(b"")),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn one_byte_input_matches_the_published_vector() {
        assert_eq!(
            hex(&digest(&[0u8])),
            "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"
        );
    }
}
