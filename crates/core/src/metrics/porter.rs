//! NLTK's Porter stemmer (to be written).
