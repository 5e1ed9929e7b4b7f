"""Extract VADER 3.3.2's lexicons and word lists into the data files that
crmlake embeds (udfs/src/feedback/vader.rs reads them with include_str!).

    python3 -m venv /tmp/vader && /tmp/vader/bin/pip install vaderSentiment==3.3.2
    /tmp/vader/bin/python udfs/data/vader/extract.py

Writes, next to this script:
- lexicon.tsv: token <TAB> mean valence, as vaderSentiment parses
  vader_lexicon.txt (first two columns; the raw ratings are left out);
- emoji.tsv: emoji <TAB> description, from emoji_utf8_lexicon.txt;
- rules.json: the module's word lists and constants (NEGATE, BOOSTER_DICT,
  SPECIAL_CASES, B_INCR, B_DECR, C_INCR, N_SCALAR).
The data is vaderSentiment's, MIT licence (see LICENSE.vaderSentiment).
"""
import json
import os

import vaderSentiment
from vaderSentiment import vaderSentiment as v

assert vaderSentiment.__file__, "vaderSentiment not found"
here = os.path.dirname(os.path.abspath(__file__))
analyzer = v.SentimentIntensityAnalyzer()

with open(os.path.join(here, "lexicon.tsv"), "w", encoding="utf-8", newline="\n") as f:
    for word, valence in analyzer.lexicon.items():
        assert "\t" not in word and "\n" not in word
        f.write(f"{word}\t{valence!r}\n")

with open(os.path.join(here, "emoji.tsv"), "w", encoding="utf-8", newline="\n") as f:
    for emoji, description in analyzer.emojis.items():
        assert "\t" not in emoji and "\t" not in description
        f.write(f"{emoji}\t{description}\n")

rules = {
    "version": "vaderSentiment 3.3.2",
    "negate": v.NEGATE,
    "booster": v.BOOSTER_DICT,
    "special_cases": v.SPECIAL_CASES,
    "b_incr": v.B_INCR,
    "b_decr": v.B_DECR,
    "c_incr": v.C_INCR,
    "n_scalar": v.N_SCALAR,
}
with open(os.path.join(here, "rules.json"), "w", encoding="utf-8", newline="\n") as f:
    json.dump(rules, f, ensure_ascii=False, indent=1, sort_keys=True)
    f.write("\n")
print(len(analyzer.lexicon), "lexicon entries,", len(analyzer.emojis), "emojis")
