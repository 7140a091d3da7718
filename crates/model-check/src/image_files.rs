//! Matching a benchmark row's `image` field (`pmc_478390_0.jpg`, sometimes a relative path) to
//! the files a user gave: a dropped folder's relative paths or a zip archive's entry names.
//!
//! Rules, in order, the first that matches deciding: the same path; paths ending in `/` + the
//! image; the same base name. Several candidates under the deciding rule are an error rather than
//! a guess. Folders, macOS metadata (`__MACOSX/`, `._*`) and hidden files are not images.

use std::collections::HashMap;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageLookupError {
    #[error("no file named {image} among the {files} images given")]
    NotFound { image: String, files: usize },
    #[error("{image} matches several files: {}", .candidates.join(", "))]
    Ambiguous {
        image: String,
        candidates: Vec<String>,
    },
}

/// How many candidates an [`ImageLookupError::Ambiguous`] lists.
const MAX_CANDIDATES: usize = 5;

/// Files by normalised path, with lookups by path and by base name.
#[derive(Clone, Debug)]
pub struct ImageIndex<T> {
    files: Vec<(String, T)>,
    by_path: HashMap<String, Vec<usize>>,
    by_base_name: HashMap<String, Vec<usize>>,
}

/// `\` as `/`, without a leading `./` or `/`.
fn normalise(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut rest = path.as_str();
    loop {
        if let Some(stripped) = rest.strip_prefix("./") {
            rest = stripped;
        } else if let Some(stripped) = rest.strip_prefix('/') {
            rest = stripped;
        } else {
            return rest.to_owned();
        }
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Folders, macOS metadata and hidden files.
fn is_skipped(path: &str) -> bool {
    let name = base_name(path);
    name.is_empty() || name.starts_with('.') || path.split('/').any(|part| part == "__MACOSX")
}

impl<T> ImageIndex<T> {
    /// Indexes `(path, item)` pairs, skipping what cannot be an image (see the module docs).
    pub fn new(items: impl IntoIterator<Item = (String, T)>) -> Self {
        let mut index = Self {
            files: Vec::new(),
            by_path: HashMap::new(),
            by_base_name: HashMap::new(),
        };
        for (path, item) in items {
            let path = normalise(&path);
            if is_skipped(&path) {
                continue;
            }
            let position = index.files.len();
            index
                .by_path
                .entry(path.clone())
                .or_default()
                .push(position);
            index
                .by_base_name
                .entry(base_name(&path).to_owned())
                .or_default()
                .push(position);
            index.files.push((path, item));
        }
        index
    }

    /// How many files were indexed.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The file for `image`.
    pub fn find(&self, image: &str) -> Result<&T, ImageLookupError> {
        let image = normalise(image);
        let same_name = self
            .by_base_name
            .get(base_name(&image))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let suffix = format!("/{image}");
        let under_folder: Vec<usize> = same_name
            .iter()
            .copied()
            .filter(|&i| self.files.get(i).is_some_and(|(p, _)| p.ends_with(&suffix)))
            .collect();
        let candidates = [
            self.by_path
                .get(&image)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            &under_folder,
            same_name,
        ]
        .into_iter()
        .find(|found| !found.is_empty())
        .unwrap_or_default();
        match candidates {
            [] => Err(ImageLookupError::NotFound {
                image,
                files: self.len(),
            }),
            [one] => self
                .files
                .get(*one)
                .map(|(_, item)| item)
                .ok_or(ImageLookupError::NotFound {
                    image,
                    files: self.len(),
                }),
            several => Err(ImageLookupError::Ambiguous {
                candidates: several
                    .iter()
                    .filter_map(|&i| self.files.get(i).map(|(p, _)| p.clone()))
                    .take(MAX_CANDIDATES)
                    .collect(),
                image,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(paths: &[&str]) -> ImageIndex<usize> {
        ImageIndex::new(paths.iter().enumerate().map(|(i, p)| (p.to_string(), i)))
    }

    #[test]
    fn an_exact_path_wins_over_longer_paths_and_base_names() {
        let files = index(&["pmc_1.jpg", "a/pmc_1.jpg", "b/pmc_1.jpg"]);
        assert_eq!(files.find("pmc_1.jpg"), Ok(&0));
        assert_eq!(files.find("./pmc_1.jpg"), Ok(&0));
        assert_eq!(files.find("a/pmc_1.jpg"), Ok(&1));
        assert_eq!(files.find("a\\pmc_1.jpg"), Ok(&1));
    }

    #[test]
    fn paths_are_normalised() {
        let files = index(&["./MedHallTune\\images\\pmc_1.jpg", "/root/pmc_2.jpg"]);
        assert_eq!(files.find("MedHallTune/images/pmc_1.jpg"), Ok(&0));
        assert_eq!(files.find("root/pmc_2.jpg"), Ok(&1));
        assert_eq!(files.find("/root/pmc_2.jpg"), Ok(&1));
    }

    #[test]
    fn a_path_under_a_folder_is_found_by_its_relative_name() {
        let files = index(&["MedHallTune/images/pmc_478390_0.jpg", "other/pmc_2.jpg"]);
        assert_eq!(files.find("pmc_478390_0.jpg"), Ok(&0));
        assert_eq!(files.find("images/pmc_478390_0.jpg"), Ok(&0));
        // `mages/…` is not a folder suffix, but the base name still matches.
        assert_eq!(files.find("mages/pmc_478390_0.jpg"), Ok(&0));
    }

    #[test]
    fn a_folder_suffix_wins_over_a_base_name() {
        let files = index(&["x/images/pmc_1.jpg", "y/thumbs/pmc_1.jpg"]);
        assert_eq!(files.find("images/pmc_1.jpg"), Ok(&0));
        assert_eq!(files.find("thumbs/pmc_1.jpg"), Ok(&1));
        // Neither folder is named: the base name matches both.
        assert_eq!(
            files.find("elsewhere/pmc_1.jpg"),
            Err(ImageLookupError::Ambiguous {
                image: "elsewhere/pmc_1.jpg".into(),
                candidates: vec!["x/images/pmc_1.jpg".into(), "y/thumbs/pmc_1.jpg".into()],
            })
        );
    }

    #[test]
    fn several_candidates_are_an_error_listing_at_most_five() {
        let files = index(&["a/pmc_1.jpg", "b/pmc_1.jpg"]);
        let error = files.find("pmc_1.jpg").expect_err("ambiguous");
        assert_eq!(
            error.to_string(),
            "pmc_1.jpg matches several files: a/pmc_1.jpg, b/pmc_1.jpg"
        );
        let many: Vec<String> = (0..8).map(|i| format!("d{i}/x.png")).collect();
        let files = ImageIndex::new(many.into_iter().map(|p| (p, ())));
        match files.find("x.png") {
            Err(ImageLookupError::Ambiguous { candidates, .. }) => {
                assert_eq!(candidates.len(), 5);
                assert_eq!(candidates[0], "d0/x.png");
            }
            other => panic!("expected Ambiguous, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_image_says_how_many_files_there_were() {
        let files = index(&["a/pmc_2.jpg", "b/pmc_3.jpg"]);
        let error = files.find("pmc_1.jpg").expect_err("missing");
        assert_eq!(
            error,
            ImageLookupError::NotFound {
                image: "pmc_1.jpg".into(),
                files: 2
            }
        );
        assert_eq!(
            error.to_string(),
            "no file named pmc_1.jpg among the 2 images given"
        );
        assert!(files.find("").is_err());
        assert!(files.find("a/").is_err());
        assert!(index(&[]).find("pmc_1.jpg").is_err());
    }

    #[test]
    fn folders_macos_metadata_and_hidden_files_are_skipped() {
        let files = index(&[
            "images/",
            "__MACOSX/images/._pmc_1.jpg",
            "__MACOSX/images/pmc_1.jpg",
            "images/._pmc_1.jpg",
            "images/.DS_Store",
            "images/pmc_1.jpg",
        ]);
        assert_eq!(files.len(), 1);
        assert!(!files.is_empty());
        assert_eq!(files.find("pmc_1.jpg"), Ok(&5));
        assert!(files.find("._pmc_1.jpg").is_err());
        assert!(files.find(".DS_Store").is_err());
        assert!(index(&["__MACOSX/x.jpg", "d/"]).is_empty());
    }
}
