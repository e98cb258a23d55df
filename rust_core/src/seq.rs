//! Reading a Python sequence of `bytes` without copying the bytes.
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// The items of `seq` (a list, tuple or any iterable of `bytes`), as owned references.
///
/// Holding the references keeps every bytes object alive, so slices borrowed from them stay
/// valid even while the GIL is released and another thread empties the list. `what` names the
/// argument in error messages.
pub(crate) fn collect_bytes<'py>(
    seq: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    // A lone bytes or str is iterable too, but is always a caller's mistake here.
    if seq.is_instance_of::<PyBytes>() || seq.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of bytes, not a single {}",
            seq.get_type().name()?
        )));
    }
    let convert = |index: usize, item: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyBytes>> {
        match item.cast_into::<PyBytes>() {
            Ok(bytes) => Ok(bytes),
            Err(err) => Err(PyTypeError::new_err(format!(
                "{what}[{index}] must be bytes, not {}",
                err.into_inner().get_type().name()?
            ))),
        }
    };
    if let Ok(list) = seq.cast::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            out.push(convert(index, item)?);
        }
        return Ok(out);
    }
    if let Ok(tuple) = seq.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(tuple.len());
        for (index, item) in tuple.iter().enumerate() {
            out.push(convert(index, item)?);
        }
        return Ok(out);
    }
    let iter = seq
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a sequence of bytes")))?;
    let mut out = Vec::new();
    for (index, item) in iter.enumerate() {
        out.push(convert(index, item?)?);
    }
    Ok(out)
}

/// Borrowed slices of `items`, valid as long as `items` lives.
pub(crate) fn slices<'a>(items: &'a [Bound<'_, PyBytes>]) -> Vec<&'a [u8]> {
    items.iter().map(|b| b.as_bytes()).collect()
}
