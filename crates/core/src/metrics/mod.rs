//! The official lexical metrics, each reproducing one Python library call exactly.

pub mod porter;
pub mod wordnet;
pub mod bleu;
pub mod rouge;
pub mod meteor;
pub mod lexical;
