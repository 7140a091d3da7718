//! The official lexical metrics, each reproducing one Python library call exactly.

pub mod bleu;
pub mod lexical;
pub mod meteor;
pub mod porter;
pub mod rouge;
pub mod wordnet;
