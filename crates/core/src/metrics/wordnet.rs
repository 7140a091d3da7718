//! WordNet synonyms as NLTK computes them (to be written).
