"""Generate the demo sample that ships in samples/: product-label images we draw ourselves.

    python tools/make_sample.py [--out samples]

Each image is a plain "label" with a few lines of text, one of which holds the fact a row
asks for. The CSV rows follow the challenge format; labels.csv adds the truth. Three rows are
bad on purpose (an unknown entity, a row with a missing field, an image that cannot be
fetched) so the demo also shows failures being recorded. Quality is never measured on these:
real images in ../shared/data are for that.
"""
import argparse
import csv
import os
import random

from PIL import Image, ImageDraw, ImageFont

# (file name, entity, truth, text lines: the first is drawn large)
LABELS = [
    ('oats.jpg', 'item_weight', '500.0 gram', ['ROLLED OATS', 'Net Wt 500 g', 'Wholegrain']),
    ('coffee.jpg', 'item_weight', '250.0 gram', ['Dark Roast', 'Coffee Beans', 'NET WT 250g']),
    ('flour.jpg', 'item_weight', '2.0 kilogram', ['Bread Flour', '2 kg', 'Strong white']),
    ('nuts.jpg', 'item_weight', '16.0 ounce', ['Mixed Nuts', 'NET WT 16 oz', 'Salted']),
    ('juice.jpg', 'item_volume', '750.0 millilitre', ['Apple Juice', '750 ml', 'Not from concentrate']),
    ('soap.jpg', 'item_volume', '1.5 litre', ['Hand Soap', 'Refill 1.5 L']),
    ('adapter.jpg', 'voltage', '12.0 volt', ['Power Adapter', 'Output 12V', 'Input 100-240V~']),
    ('lamp.jpg', 'wattage', '60.0 watt', ['LED Lamp', '60 W', 'Warm white']),
    ('heater.jpg', 'wattage', '2000.0 watt', ['Fan Heater', '2000W', '230 V']),
    ('box.jpg', 'height', '20.0 centimetre', ['Storage Box', 'Height 20 cm']),
    ('shelf.jpg', 'width', '80.0 centimetre', ['Wall Shelf', 'Width 80 cm']),
    ('hook.jpg', 'maximum_weight_recommendation', '5.0 kilogram', ['Wall Hook', 'Max load 5 kg']),
]
CDN = 'https://images.example.com/specscan-sample/'


def draw_label(lines, seed: int) -> Image.Image:
    """A 640x480 label: pale background, dark text, first line large."""
    rng = random.Random(seed)
    background = tuple(rng.randint(215, 255) for _ in range(3))
    ink = tuple(rng.randint(0, 60) for _ in range(3))
    image = Image.new('RGB', (640, 480), background)
    draw = ImageDraw.Draw(image)
    y = 60
    for i, line in enumerate(lines):
        font = ImageFont.load_default(size=64 if i == 0 else 48)
        draw.text((40, y), line, fill=ink, font=font)
        y += 110 if i == 0 else 90
    return image


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='samples')
    args = parser.parse_args(argv)
    os.makedirs(os.path.join(args.out, 'images'), exist_ok=True)
    rows = []
    for seed, (name, entity, truth, lines) in enumerate(LABELS):
        draw_label(lines, seed).save(os.path.join(args.out, 'images', name), quality=85)
        rows.append((str(len(rows)), CDN + name, str(1000 + seed), entity, truth))
    # Bad rows, on purpose: each must end up in failures/ and still in predictions.csv.
    rows.append((str(len(rows)), CDN + 'oats.jpg', '1000', 'colour', ''))
    rows.append((str(len(rows)), 'http://127.0.0.1:9/not-cached.jpg', '1001', 'item_weight', ''))
    with open(os.path.join(args.out, 'input.csv'), 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(('index', 'image_link', 'group_id', 'entity_name'))
        writer.writerows(row[:4] for row in rows)
        handle.write(f'{len(rows)},{CDN}coffee.jpg\n')  # a row with missing fields
    with open(os.path.join(args.out, 'labels.csv'), 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(('index', 'image_link', 'group_id', 'entity_name', 'entity_value'))
        writer.writerows(rows)
        writer.writerow((str(len(rows)), CDN + 'coffee.jpg', '', '', ''))


if __name__ == '__main__':
    main()
