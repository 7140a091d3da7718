//! The official lexical metrics, each reproducing one Python library call exactly.

pub mod porter;
pub mod wordnet;
