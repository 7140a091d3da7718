//! Results and reference file formats (to be written).
