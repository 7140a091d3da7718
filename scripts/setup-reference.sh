#!/usr/bin/env bash
# Builds the Python reference stack that the parity tests and the benchmark compare against:
# a venv with the exact library versions of the benchmark's evaluation, and an NLTK WordNet 3.0
# folder assembled from Debian's wordnet-base (NLTK cannot download its data on these machines).
# Idempotent: does nothing when everything is already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/pyref"
venv="$dest/venv"
nltk_data="$dest/nltk_data"
wn=/usr/share/wordnet

if [ ! -f "$wn/index.sense" ] || [ ! -f "$wn/data.noun" ]; then
  echo "setup-reference: installing wordnet-base and wordnet-sense-index (apt)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null
fi

if ! "$venv/bin/python" -c 'import nltk, rouge_score, sacrebleu; assert nltk.__version__ == "3.10.4"' 2>/dev/null; then
  echo "setup-reference: creating $venv (nltk 3.10.4, rouge-score 0.1.2, sacrebleu)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check nltk==3.10.4 rouge-score==0.1.2 sacrebleu==2.6.0
fi

corpus="$nltk_data/corpora/wordnet"
if [ ! -f "$corpus/lexnames" ]; then
  mkdir -p "$corpus"
  for pos in noun verb adj adv; do
    cp "$wn/data.$pos" "$wn/index.$pos" "$wn/$pos.exc" "$corpus/"
  done
  cp "$wn/index.sense" "$corpus/"
  # The standard WordNet 3.0 lexicographer file list (NLTK reads it; Debian does not ship it).
  i=0
  for entry in adj.all:3 adj.pert:3 adv.all:4 noun.Tops:1 noun.act:1 noun.animal:1 noun.artifact:1 \
      noun.attribute:1 noun.body:1 noun.cognition:1 noun.communication:1 noun.event:1 noun.feeling:1 \
      noun.food:1 noun.group:1 noun.location:1 noun.motive:1 noun.object:1 noun.person:1 \
      noun.phenomenon:1 noun.plant:1 noun.possession:1 noun.process:1 noun.quantity:1 noun.relation:1 \
      noun.shape:1 noun.state:1 noun.substance:1 noun.time:1 verb.body:2 verb.change:2 \
      verb.cognition:2 verb.communication:2 verb.competition:2 verb.consumption:2 verb.contact:2 \
      verb.creation:2 verb.emotion:2 verb.motion:2 verb.perception:2 verb.possession:2 verb.social:2 \
      verb.stative:2 verb.weather:2 adj.ppl:3; do
    printf '%02d\t%s\t%s\n' "$i" "${entry%%:*}" "${entry##*:}"
    i=$((i + 1))
  done >"$corpus/lexnames.tmp"
  mv "$corpus/lexnames.tmp" "$corpus/lexnames"
fi

NLTK_DATA="$nltk_data" "$venv/bin/python" -c 'from nltk.translate.meteor_score import single_meteor_score as m; assert m(["dogs"], ["dog"]) > 0.4' \
  || { echo "setup-reference: the NLTK WordNet folder does not work" >&2; exit 1; }
