"""The embedded demo corpus's content: made-up questions and generated images, written for medvlt.

None of this comes from a real dataset. The text questions are short, general medical-knowledge
items written for the demo; the images are synthetic "scans" drawn here (a bright lesion of a
known shape and side on a noisy background), so every image question has a checkable answer.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class TextItem:
    question: str
    options: tuple[str, str, str, str]
    answer: int  # index into options
    topic: str


TEXT_ITEMS: tuple[TextItem, ...] = (
    TextItem("Which organ secretes insulin?", ("Liver", "Pancreas", "Spleen", "Kidney"), 1, "Physiology"),
    TextItem("Which vitamin deficiency causes scurvy?", ("Vitamin A", "Vitamin B12", "Vitamin C", "Vitamin D"), 2, "Nutrition"),
    TextItem("Which chamber of the heart pumps blood into the aorta?", ("Right atrium", "Right ventricle", "Left atrium", "Left ventricle"), 3, "Anatomy"),
    TextItem("Which cell type carries oxygen in the blood?", ("Erythrocyte", "Neutrophil", "Platelet", "Lymphocyte"), 0, "Physiology"),
    TextItem("Which bone is the longest in the human body?", ("Humerus", "Tibia", "Femur", "Radius"), 2, "Anatomy"),
    TextItem("Which hormone lowers blood calcium?", ("Parathyroid hormone", "Calcitonin", "Cortisol", "Glucagon"), 1, "Endocrinology"),
    TextItem("Which nerve supplies the diaphragm?", ("Vagus nerve", "Phrenic nerve", "Radial nerve", "Femoral nerve"), 1, "Anatomy"),
    TextItem("Which enzyme starts starch digestion in the mouth?", ("Pepsin", "Lipase", "Salivary amylase", "Trypsin"), 2, "Biochemistry"),
    TextItem("Which electrolyte disturbance gives peaked T waves?", ("Hypokalemia", "Hyperkalemia", "Hyponatremia", "Hypocalcemia"), 1, "Medicine"),
    TextItem("Which organism causes tuberculosis?", ("Mycobacterium tuberculosis", "Staphylococcus aureus", "Escherichia coli", "Candida albicans"), 0, "Microbiology"),
    TextItem("Which drug class do statins belong to?", ("Beta blockers", "HMG-CoA reductase inhibitors", "ACE inhibitors", "Diuretics"), 1, "Pharmacology"),
    TextItem("Which valve lies between the left atrium and left ventricle?", ("Tricuspid", "Pulmonary", "Mitral", "Aortic"), 2, "Anatomy"),
    TextItem("Which gland is called the master gland?", ("Thyroid", "Adrenal", "Pituitary", "Pineal"), 2, "Endocrinology"),
    TextItem("Which lobe of the brain processes vision?", ("Frontal", "Temporal", "Parietal", "Occipital"), 3, "Neurology"),
    TextItem("Which test screens for cervical cancer?", ("Pap smear", "Colonoscopy", "Mammography", "PSA test"), 0, "Gynecology"),
    TextItem("Which antibody class crosses the placenta?", ("IgA", "IgE", "IgG", "IgM"), 2, "Immunology"),
    TextItem("Which part of the nephron reabsorbs most filtered sodium?", ("Proximal tubule", "Loop of Henle", "Distal tubule", "Collecting duct"), 0, "Physiology"),
    TextItem("Which neurotransmitter is lost in Parkinson disease?", ("Serotonin", "Dopamine", "Acetylcholine", "GABA"), 1, "Neurology"),
    TextItem("Which vessel carries blood from the intestines to the liver?", ("Hepatic artery", "Portal vein", "Inferior vena cava", "Splenic artery"), 1, "Anatomy"),
    TextItem("Which condition is defined by a fasting glucose of 126 mg/dL or more twice?", ("Hypoglycemia", "Prediabetes", "Diabetes mellitus", "Insulinoma"), 2, "Endocrinology"),
    TextItem("Which muscle is the main muscle of inspiration?", ("Diaphragm", "Rectus abdominis", "Trapezius", "Deltoid"), 0, "Physiology"),
    TextItem("Which vaccine prevents measles?", ("BCG", "MMR", "DTP", "HPV"), 1, "Public health"),
    TextItem("Which blood type is the universal red cell donor?", ("A positive", "B negative", "AB positive", "O negative"), 3, "Hematology"),
    TextItem("Which organ stores bile?", ("Gallbladder", "Pancreas", "Stomach", "Duodenum"), 0, "Anatomy"),
    TextItem("Which reflex tests the L4 nerve root?", ("Biceps reflex", "Ankle reflex", "Patellar reflex", "Triceps reflex"), 2, "Neurology"),
    TextItem("Which pigment gives jaundice its yellow color?", ("Melanin", "Bilirubin", "Hemosiderin", "Carotene"), 1, "Medicine"),
    TextItem("Which structure connects muscle to bone?", ("Ligament", "Cartilage", "Tendon", "Fascia"), 2, "Anatomy"),
    TextItem("Which drug reverses opioid overdose?", ("Naloxone", "Flumazenil", "Atropine", "Protamine"), 0, "Pharmacology"),
    TextItem("Which cells produce antibodies?", ("T cells", "Plasma cells", "Macrophages", "Eosinophils"), 1, "Immunology"),
    TextItem("Which imaging test uses no ionizing radiation?", ("CT", "Radiography", "PET", "MRI"), 3, "Radiology"),
)  # fmt: skip


@dataclass(frozen=True)
class DemoImage:
    """A generated scan: a bright lesion of ``shape`` on the ``side`` half of the picture."""

    name: str
    shape: str  # "round" or "square"
    side: str  # "left" or "right"
    size: tuple[int, int]

    def png(self) -> bytes:
        return _draw(self)

    def jpeg(self) -> bytes:
        return _draw(self, "JPEG")


DEMO_IMAGES: tuple[DemoImage, ...] = tuple(
    DemoImage(f"scan_{i:02d}_{shape}_{side}", shape, side, size)
    for i, (shape, side, size) in enumerate(
        [
            ("round", "left", (96, 80)),
            ("round", "right", (80, 96)),
            ("square", "left", (112, 96)),
            ("square", "right", (96, 96)),
            ("round", "right", (128, 96)),
            ("square", "left", (96, 128)),
        ]
    )
)


@dataclass(frozen=True)
class ImageItem:
    """A question about one demo image, in three forms: closed (yes/no or X-or-Y), open, and MC."""

    image: DemoImage
    question: str
    answer: str
    options: tuple[str, ...] = ()

    @property
    def answer_index(self) -> int:
        return self.options.index(self.answer)


def image_items() -> list[ImageItem]:
    """Questions about the demo images: per image two closed, one open, and two multiple-choice."""
    items: list[ImageItem] = []
    for image in DEMO_IMAGES:
        other = "right" if image.side == "left" else "left"
        items += [
            ImageItem(image, f"Is there a bright lesion on the {image.side} side?", "yes"),
            ImageItem(image, f"Is there a bright lesion on the {other} side?", "no"),
            ImageItem(image, "Is the lesion round or square?", image.shape),
            ImageItem(image, "What does the bright area most likely show?", "a lesion"),
            ImageItem(
                image,
                "On which side of the image is the bright lesion?",
                f"{image.side.capitalize()} side",
                ("Left side", "Right side", "Center", "No lesion"),
            ),
            ImageItem(
                image,
                "What is the shape of the bright lesion in this scan?",
                "Round" if image.shape == "round" else "Square",
                ("Round", "Square", "Triangular", "Linear"),
            ),
        ]
    return items


def _draw(image: DemoImage, fmt: str = "PNG") -> bytes:
    rng = random.Random(image.name)
    width, height = image.size
    canvas = Image.new("L", image.size, 40)
    pixels = canvas.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = 30 + rng.randrange(40)
    draw = ImageDraw.Draw(canvas)
    cx = width // 4 if image.side == "left" else 3 * width // 4
    cy = height // 2 + rng.randrange(-height // 8, height // 8)
    r = min(width, height) // 7
    box = (cx - r, cy - r, cx + r, cy + r)
    if image.shape == "round":
        draw.ellipse(box, fill=230)
    else:
        draw.rectangle(box, fill=230)
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.8)).convert("RGB")
    buffer = io.BytesIO()
    canvas.save(buffer, format=fmt)
    return buffer.getvalue()


def write_demo_images(folder: Path, suffix: str = ".jpg") -> Path:
    """Write every demo image as ``{name}{suffix}`` (JPEG) into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for image in DEMO_IMAGES:
        (folder / f"{image.name}{suffix}").write_bytes(image.jpeg())
    return folder


def write_jsonl(path: Path, rows: list[dict], tail: str = "") -> Path:
    """Write ``rows`` as JSON Lines to ``path``, then ``tail`` as it is (a demo's deliberately broken
    line); returns ``path``."""
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
        handle.write(tail)
    return path
