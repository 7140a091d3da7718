#!/usr/bin/env python3
"""Writes crates/metrics/tests/fixtures/parity_edge_cases.jsonl: answer/reference pairs chosen to hit
the metrics' edge cases, with the values the Python reference libraries give them.

Run with the reference venv and NLTK_DATA (scripts/setup-reference.sh):
  NLTK_DATA=.cache/pyref/nltk_data .cache/pyref/venv/bin/python scripts/gen_parity_fixture.py
The output is deterministic.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
from reference_scores import score_pair  # noqa: E402

HAND_WRITTEN = [
    # (reference, hypothesis)
    ("", ""),
    ("The lesion is benign.", ""),
    ("", "The lesion is benign."),
    ("...", "!!!"),
    ("-- , ; :", "The image shows ..."),
    ("The lesion measures 5 µm.", "The lesion measures 5 μm."),
    ("β-blockers reduce heart rate ± 10%.", "Beta-blockers reduce the heart rate by about 10 %."),
    ("The mass is 3.5 cm × 2.1 cm.", "The mass measures 3.5cm x 2.1cm."),
    ("Follow-up CT in 6-8 weeks.", "Follow up CT in 6 to 8 weeks."),
    ("the the the the", "the the"),
    ("the cat the cat the cat", "the cat"),
    ("Children and mice and geese were studied.", "A child and a mouse and a goose were studied."),
    ("The patient ran and lay down.", "The patient runs and lies down."),
    ("The tumor is large.", "The neoplasm is big."),
    ("The vessel is dilated.", "The vas is enlarged."),
    ("An X-ray shows the lungs.", "The x-ray showed a lung."),
    ("İstanbul KELVIN \u212aelvin", "istanbul kelvin kelvin"),
    ("CT MRI PET", "ct mri pet"),
    ("There is no evidence of hemorrhage.", "There is no hemorrhage."),
    ("The image does not show a fracture.", "There is a fracture in the image."),
    ("Tab\tseparated\nlines\r\nand\u00a0nbsp\u2003em\u3000ideo\u001funit", "Tab separated lines and nbsp em ideo unit"),
    ("a", "a"),
    ("a b", "b a"),
    ("1 2 3 4 5", "1 2 3 4 5"),
    ("12mm 3mm", "12 mm 3 mm"),
    ("Doctors' findings: hypoechoic (dark) nodules.", "The doctor found hypoechoic nodules."),
    ("emoji 🙂 test", "emoji test 🙂"),
    ("ΟΔΟΣ οδος", "οδος ΟΔΟΣ"),
    ("running runs ran runner", "run run run run"),
    ("better best good", "good well better"),
    ("leaves knives wolves", "leaf knife wolf"),
    ("analyses criteria phenomena", "analysis criterion phenomenon"),
    ("enhancing enhancement enhanced", "enhance"),
    ("blood_vessel heart_attack", "vessel attack"),
    ("The aorta is normal in caliber.", "The aorta has a normal calibre."),
    ("The left ventricle appears hypertrophied.", "The left ventricle appears enlarged and hypertrophic."),
]

WORDS = (
    "the a an of in on with without is are was were shows showed show showing reveals revealed "
    "lesion lesions mass masses nodule nodules tumor tumour tumors neoplasm cyst cysts fracture "
    "fractures left right bilateral lung lungs chest x-ray ct mri ultrasound image images scan "
    "large small big little enlarged dilated normal abnormal benign malignant no not evidence of "
    "hemorrhage haemorrhage bleeding edema oedema effusion pleural consolidation opacity opacities "
    "patient patients doctor found findings suggest suggests suggesting consistent likely "
    "µm mm cm 5 10 3.5 ± β-blocker (arrow) arrows, arrow. [A] B) 'quoted' \"double\" - -- "
    "children child mice mouse geese goose ran run runs running lay lie lies lying better best good "
    "well worse worst heart cardiac artery arteries vessel vessels vas blood_vessel Heart LUNG CT-scan"
).split()


def random_pairs(count, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        ref = [rng.choice(WORDS) for _ in range(rng.randint(0, 25))]
        hyp = list(ref) if rng.random() < 0.5 else []
        # Perturb: drop, swap, substitute, duplicate words.
        for _ in range(rng.randint(0, 10)):
            op = rng.random()
            if op < 0.3 and hyp:
                del hyp[rng.randrange(len(hyp))]
            elif op < 0.6:
                hyp.insert(rng.randint(0, len(hyp)), rng.choice(WORDS))
            elif hyp:
                i = rng.randrange(len(hyp))
                j = rng.randrange(len(hyp))
                hyp[i], hyp[j] = hyp[j], hyp[i]
        sep = rng.choice([" ", "  ", "\n", "\t", " \u00a0"])
        pairs.append((" ".join(ref), sep.join(hyp)))
    return pairs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "crates/metrics/tests/fixtures/parity_edge_cases.jsonl")
    with open(out, "w", encoding="utf-8") as dst:
        for reference, hypothesis in HAND_WRITTEN + random_pairs(300, 20261125):
            row = {"reference": reference, "hypothesis": hypothesis, **score_pair(reference, hypothesis)}
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
