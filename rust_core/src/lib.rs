//! The Python module `rust_core._native`: registration only; the work lives in the sibling modules.
use pyo3::prelude::*;

mod chain;
mod chunk;
mod diff;
mod hash;
mod merkle;
mod seq;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    hash::register(m)?;
    chain::register(m)?;
    diff::register(m)?;
    chunk::register(m)?;
    merkle::register(m)?;
    Ok(())
}
