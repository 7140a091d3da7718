#!/usr/bin/env python3
"""Writes crates/metrics/tests/fixtures/wordnet_nltk.jsonl: per word, METEOR's WordNet synonym set.

Each line is {"word": w, "synonyms": sorted(NLTK set)} with exactly the set NLTK 3.10.4's
single_meteor_score builds for a hypothesis word:
    {l.name() for s in wordnet.synsets(w) for l in s.lemmas() if '_' not in l.name()}
(uppercase names included: the Rust test drops them, since they can never match a lowercased token).

The words: hand-picked edge cases (morphy's rules and exception lists, Unicode lowercasing), a
radiology vocabulary, every token of the parity fixture, then WordNet lemmas, exception forms and
inflected/capitalised variants picked in MD5 order, so reruns give the same file.

  NLTK_DATA=.cache/pyref/nltk_data .cache/pyref/venv/bin/python scripts/gen_wordnet_fixture.py
"""
import hashlib
import json
import os

import nltk
from nltk.corpus import wordnet

assert nltk.__version__ == "3.10.4", nltk.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/metrics/tests/fixtures/wordnet_nltk.jsonl")
PARITY = os.path.join(ROOT, "crates/metrics/tests/fixtures/parity_edge_cases.jsonl")
WORDNET = "/usr/share/wordnet"
FILES = ("noun", "verb", "adj", "adv")

EDGE = [
    "", " ", "s", "S", "es", "ses", "xes", "zes", "ves", "ches", "shes", "men", "man", "ies", "ed",
    "ing", "er", "est", "e", "y", "a", "i", "I", "x", "_", "-", "--", "...", "'s", "n't",
    "lesion", "lesions", "x-ray", "x-rays", "X-Ray", "ct", "CT", "mri", "MRI", "shows", "showed",
    "showing", "larger", "largest", "lungs", "better", "best", "good", "well", "worse", "worst",
    "geese", "mice", "children", "axes", "axe", "ax", "axis", "ran", "run", "lying", "lie", "lay",
    "abaci", "aardwolves", "leaves", "leave", "leaf", "men", "women", "feet", "teeth", "oxen",
    "blood_vessel", "blood vessel", "blood-vessel", "Dogs", "DOGS", "dogs", "dog", "Dog", "µm", "µM",
    "İs", "İ", "\u212aing", "\u212a", "KELVIN", "kelvin", "Σ", "ΟΔΟΣ", "ﬁle", "Straße", "café",
    "naïve", "😀", "β-blocker", "±", "3.5", "10", "1990s", "100%", "e.g.", "i.e.", "(arrow)",
    "lungs.", "heart,", "offer", "offers", "aurar", "diastemata", "involucra", "sudatoria",
    "galore", "elect", "proud", "ablaze", "asleep", "afraid", "alive", "sized", "fizzing", "hopping",
    "dies", "died", "dying", "flies", "flied", "cries", "ties", "agreed", "bled", "fed", "sang",
    "sung", "went", "gone", "was", "were", "is", "are", "be", "been", "being", "has", "had", "having",
    "does", "did", "done", "doing", "goes", "saw", "seen", "bigger", "biggest", "happier", "happiest",
    "redder", "freer", "freest", "finer", "finest", "bluer", "later", "latest", "further", "farther",
    "furthest", "more", "most", "less", "least", "fewer", "fewest", "many", "much", "badly", "hardly",
    "boxes", "buses", "busses", "quizzes", "churches", "dishes", "wolves", "knives", "wives", "lives",
    "ladies", "studies", "studied", "studying", "criteria", "phenomena", "data", "bacteria", "fungi",
    "nuclei", "vertebrae", "bronchi", "alveoli", "emboli", "thrombi", "diagnoses", "prognoses",
    "metastases", "anastomoses", "stenoses", "apices", "indices", "appendices", "matrices", "cortices",
    "foramina", "lumina", "sera", "septa", "ganglia", "calculi", "sulci", "gyri", "hila", "ostia",
    "ASCII", "aaa", "zzz", "qwertyuiop", "notaword", "xyzzy", "the", "of", "and", "not", "no", "without",
]

RADIOLOGY = """
abdomen abdominal abnormal abnormality abscess acute adenopathy air airspace alignment anterior
aorta aortic apex apical appearance appears artery arteries ascites aspiration atelectasis atrium
axial azygos basal base benign bilateral bladder bleeding blunting body bone bones bowel brain
breast bronchial bronchiectasis bronchus bulla calcification calcified calcifications cardiac
cardiomegaly cardiomediastinal catheter cavity cervical change changes chest chronic clavicle clear
collapse colon compared comparison compatible compression configuration congestion consistent
consolidation contour contours contrast cord coronary costophrenic cyst cysts decreased deformity
degenerative density dense diaphragm diffuse dilatation dilated dilation disease distal
distension effusion effusions elevated elevation embolism emphysema endotracheal enlarged
enlargement evidence exam examination expanded extent fibrosis finding findings fissure fluid
focal fracture fractures free gallbladder gas granuloma granulomas haemorrhage heart hemidiaphragm
hemorrhage hernia hiatal hilar hilum hyperinflation hyperinflated identified image images impression
increased infection infiltrate infiltrates inflammation inspiration interstitial interval intact
kidney kidneys large lateral left lesion line lines liver lobar lobe lobes lower lumbar lung lungs
lymph malignancy malignant margin marked markings mass masses mediastinal mediastinum metastasis
metastatic mild minimal moderate multiple nasogastric neck negative nodular nodule nodules normal
noted obscured opacification opacities opacity osseous pacemaker parenchymal patient pattern
pericardial peripheral persistent placement pleural pneumonia pneumothorax portable position
posterior postoperative present prior probable process prominence prominent pulmonary radiograph
radiographs recommend region remains resolution resolved retrocardial rib ribs right scan sclerotic
scoliosis seen segment severe shadow silhouette size slightly small soft spine spleen stable sternotomy
stomach study subcutaneous subsegmental suggest suggestive suspicious swelling thickening thoracic
tissue trachea tube tumor tumour ultrasound unchanged underlying upper vascular vascularity vein
ventricle vertebral visualized volume volumes wall wedge within worsening xray
"""


def md5(word):
    return hashlib.md5(word.encode("utf-8")).hexdigest()


def meteor_synonyms(word):
    return sorted({l.name() for s in wordnet.synsets(word) for l in s.lemmas() if "_" not in l.name()})


def main():
    lemmas, forms = set(), set()
    for pos in FILES:
        with open(os.path.join(WORDNET, "index." + pos), encoding="ascii") as f:
            lemmas.update(line.split()[0] for line in f if not line.startswith(" "))
        with open(os.path.join(WORDNET, pos + ".exc"), encoding="ascii") as f:
            forms.update(line.split()[0] for line in f if line.strip())

    words = list(EDGE) + RADIOLOGY.split()
    with open(PARITY, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            words += row["reference"].split() + row["hypothesis"].split()

    by_hash = sorted(lemmas, key=md5)
    plain = [w for w in by_hash if "_" not in w]
    words += by_hash[:200]
    words += sorted(forms, key=md5)[:150]
    for word in plain[200:280]:
        words += [word + suffix for suffix in ("s", "es", "ed", "ing", "er", "est", "ies")]
    words += [w.capitalize() for w in plain[280:330]] + [w.upper() for w in plain[330:350]]

    seen, rows = set(), []
    for word in words:
        if word not in seen:
            seen.add(word)
            rows.append({"word": word, "synonyms": meteor_synonyms(word)})
    with open(OUT, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{OUT}: {len(rows)} words")


if __name__ == "__main__":
    main()
