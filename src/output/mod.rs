//! The faces that print: a human report and a JSON document.
pub mod inert;
