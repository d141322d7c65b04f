"""The product vocabulary the catalog generator draws from (project-written, not scraped).

Each :class:`ProductType` is one upstream "query" (product type) with its category path, title nouns,
tagged attribute vocabularies (PROP: a property, ITEM: a part or feature, USE: a purpose; the same tags
upstream's annotators used) and option dimensions. Option values follow the shapes real WebShop
products use ("navy blue", "grey | white", "10.5 wide", "pack of 12", "8 ft x 10 ft").

Every option value must survive upstream's colour normalisation: a value such as "stonewash" (which
normalises to "stone") or "peppermint" ("mint") can never match a synthetic goal, so it would make
goals unwinnable; ``tests/envs/webshop`` checks every value.
"""

from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("beauty", "electronics", "fashion", "garden", "grocery")

COLORS = (
    "black", "white", "navy blue", "grey | white", "red", "pink", "beige", "olive green", "burgundy",
    "light blue", "charcoal", "khaki", "ivory", "teal", "lavender", "mustard yellow", "coffee brown",
    "silver", "rose gold", "multicolor",
)
SHOE_SIZES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5 wide", "11", "12")
APPAREL_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")
PACKS = ("pack of 1", "pack of 2", "pack of 3", "pack of 6", "pack of 12", "pack of 24")
OUNCES = ("8 ounce", "12 ounce", "16 ounce (pack of 2)", "1.5 pound", "32 ounce", "3.4 fl oz (pack of 1)")
RUG_SIZES = ("2 ft x 3 ft", "4 ft x 6 ft", "5 ft x 7 ft", "8 ft x 10 ft", "9 ft x 12 ft")
CAPACITIES = ("32gb", "64gb", "128gb", "256gb", "512gb")
FLAVORS = ("vanilla", "dark chocolate", "sea salt", "honey roasted", "original", "strawberry", "matcha", "mixed berry")
SCENTS = ("lavender", "unscented", "coconut", "eucalyptus mint", "rose", "citrus", "cedarwood")
LENGTHS = ("3 ft", "6 ft", "10 ft", "16 ft", "25 ft")


@dataclass(frozen=True)
class ProductType:
    """One product type (an upstream ``query``) and the vocabulary its products are drawn from."""

    category: str
    query: str
    path: tuple[str, ...]
    nouns: tuple[str, ...]  # head-noun phrases used in titles, e.g. "running shoes"
    prop: tuple[str, ...]
    item: tuple[str, ...]
    use: tuple[str, ...]
    options: tuple[tuple[str, tuple[str, ...]], ...]  # (dimension name, possible values)
    price: tuple[float, float]  # typical (low, high) price in dollars


def _t(category, query, path, nouns, prop, item, use, options, price) -> ProductType:
    return ProductType(category, query, tuple(path.split(" › ")), tuple(nouns), tuple(prop), tuple(item),
                       tuple(use), tuple(options), price)


PRODUCT_TYPES: tuple[ProductType, ...] = (
    # ------------------------------------------------------------------ beauty
    _t("beauty", "shampoo", "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos",
       ["shampoo", "hair shampoo", "shampoo bottle"],
       ["sulfate free", "paraben free", "cruelty free", "natural ingredients", "long lasting"],
       ["argan oil", "tea tree oil", "keratin", "biotin"], ["dry hair", "hair growth", "daily use", "curly hair"],
       [("scent", SCENTS), ("size", OUNCES)], (6, 40)),
    _t("beauty", "face moisturizer", "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers",
       ["face cream", "moisturizer", "facial lotion"],
       ["fragrance free", "non greasy", "oil free", "dermatologist tested", "easy apply"],
       ["hyaluronic acid", "vitamin c", "spf 30", "aloe vera"], ["sensitive skin", "dry skin", "fine lines"],
       [("size", OUNCES)], (9, 60)),
    _t("beauty", "makeup brushes", "Beauty & Personal Care › Tools & Accessories › Makeup Brushes & Tools › Brush Sets",
       ["makeup brush set", "brushes", "brush kit"],
       ["high quality", "easy clean", "cruelty free", "soft bristles"],
       ["storage case", "synthetic hair", "wooden handle"], ["travel", "foundation blending", "eye shadow"],
       [("color", COLORS[:10]), ("style", ("10 piece", "14 piece", "18 piece"))], (8, 45)),
    _t("beauty", "tongue cleaners", "Beauty & Personal Care › Oral Care › Tongue Cleaners",
       ["tongue scraper", "tongue cleaner", "cleaner"],
       ["bpa free", "easy clean", "stainless steel", "reusable"],
       ["storage case", "non slip handle"], ["bad breath", "oral hygiene"],
       [("size", PACKS[:4])], (4, 18)),
    _t("beauty", "hair loss products", "Beauty & Personal Care › Hair Care › Hair Extensions, Wigs & Accessories › Wigs",
       ["wig", "lace front wig", "hair piece"],
       ["heat resistant", "natural looking", "high density", "easy wear"],
       ["synthetic hair", "adjustable straps", "baby hair"], ["daily wear", "cosplay", "hair loss"],
       [("color", COLORS[:12]), ("size", ("14 inch", "18 inch", "22 inch", "26 inch"))], (15, 120)),
    _t("beauty", "nail polish", "Beauty & Personal Care › Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
       ["nail polish", "gel polish", "polish set"],
       ["long lasting", "quick dry", "non toxic", "chip resistant"],
       ["top coat", "base coat", "glitter"], ["home manicure", "nail art"],
       [("color", COLORS), ("size", PACKS[:3])], (5, 30)),
    # ------------------------------------------------------------------ electronics
    _t("electronics", "headphones", "Electronics › Headphones › Earbud Headphones",
       ["earbuds", "headphones", "earphones"],
       ["noise cancelling", "water resistant", "long battery life", "fast charging"],
       ["stereo sound", "charging case", "built in microphone", "bluetooth 5.0"],
       ["running", "gaming", "phone calls", "workout"],
       [("color", COLORS[:8])], (12, 150)),
    _t("electronics", "usb cables", "Electronics › Computers & Accessories › Cables › USB Cables",
       ["usb cable", "charging cable", "charger cord"],
       ["fast charging", "high speed", "durable", "tangle free"],
       ["braided nylon", "aluminum connector", "usb c"], ["iphone", "android phones", "car charging"],
       [("size", LENGTHS), ("color", COLORS[:5])], (5, 25)),
    _t("electronics", "memory cards", "Electronics › Computers & Accessories › Memory Cards › Micro SD Cards",
       ["memory card", "micro sd card", "sd card"],
       ["high speed", "waterproof", "shock proof", "reliable"],
       ["sd adapter", "uhs i", "4k video"], ["dash cam", "nintendo switch", "security camera"],
       [("capacity", CAPACITIES), ("size", PACKS[:3])], (7, 90)),
    _t("electronics", "phone cases", "Cell Phones & Accessories › Cases, Holsters & Sleeves › Basic Cases",
       ["phone case", "protective case", "case cover"],
       ["shock absorbing", "slim fit", "anti scratch", "wireless charging compatible"],
       ["kickstand", "card holder", "tempered glass"], ["iphone 13", "galaxy s21", "daily protection"],
       [("color", COLORS[:10])], (6, 35)),
    _t("electronics", "bluetooth speakers", "Electronics › Portable Audio & Video › Portable Speakers & Docks › Portable Bluetooth Speakers",
       ["speaker", "bluetooth speaker", "portable speaker"],
       ["waterproof", "long battery life", "easy carry", "high fidelity"],
       ["deep bass", "led lights", "carabiner"], ["outdoor party", "shower", "camping"],
       [("color", COLORS[:6])], (18, 130)),
    _t("electronics", "hdmi cables", "Electronics › Television & Video › Accessories › Cables › HDMI Cables",
       ["hdmi cable", "hdmi cord", "video cable"],
       ["high speed", "gold plated", "durable", "ultra hd"],
       ["ethernet support", "braided nylon", "4k video"], ["gaming", "home theater", "laptop monitor"],
       [("size", LENGTHS)], (6, 30)),
    # ------------------------------------------------------------------ fashion
    _t("fashion", "men's running shoes", "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running",
       ["running shoes", "sneakers", "trail shoes"],
       ["non slip", "lightweight", "breathable", "slip resistant"],
       ["rubber sole", "memory foam", "mesh upper", "lace up closure"], ["daily wear", "gym workout", "walking"],
       [("color", COLORS[:10]), ("size", SHOE_SIZES)], (25, 120)),
    _t("fashion", "women's loafers & slip-ons", "Clothing, Shoes & Jewelry › Women › Shoes › Loafers & Slip-Ons",
       ["loafers", "slip on shoes", "flats"],
       ["comfortable", "non slip", "lightweight", "soft"],
       ["rubber sole", "memory foam", "faux leather"], ["office work", "teen girls", "walking"],
       [("color", COLORS[:12]), ("size", SHOE_SIZES)], (18, 80)),
    _t("fashion", "men's t-shirts", "Clothing, Shoes & Jewelry › Men › Clothing › Shirts › T-Shirts",
       ["t-shirt", "tee shirt", "crew neck shirt"],
       ["machine wash", "short sleeve", "classic fit", "moisture wicking", "slim fit"],
       ["cotton fabric", "button closure", "polyester spandex"], ["daily wear", "workout", "summer"],
       [("color", COLORS), ("size", APPAREL_SIZES)], (9, 40)),
    _t("fashion", "women's dresses", "Clothing, Shoes & Jewelry › Women › Clothing › Dresses › Casual",
       ["dress", "maxi dress", "sundress"],
       ["long sleeve", "machine wash", "loose fit", "hand wash", "high waist"],
       ["button closure", "elastic waist", "polyester spandex"], ["daily wear", "party", "beach"],
       [("color", COLORS[:14]), ("size", APPAREL_SIZES[:6])], (15, 70)),
    _t("fashion", "men's jeans", "Clothing, Shoes & Jewelry › Men › Clothing › Jeans",
       ["jeans", "denim pants", "straight leg jeans"],
       ["machine wash", "relaxed fit", "stretch fabric", "classic fit"],
       ["button closure", "zipper fly", "cotton fabric"], ["daily wear", "work"],
       [("color", ("dark blue", "light blue", "black", "charcoal grey", "indigo")),
        ("size", ("30w x 30l", "32w x 32l", "34w x 32l", "36w x 34l", "38w x 30l"))], (20, 75)),
    _t("fashion", "women's handbags", "Clothing, Shoes & Jewelry › Women › Handbags & Wallets › Shoulder Bags",
       ["handbag", "shoulder bag", "tote bag"],
       ["large capacity", "water resistant", "vegan leather", "lightweight"],
       ["zipper closure", "adjustable strap", "inner pockets"], ["work", "travel", "daily use"],
       [("color", COLORS[:12])], (20, 90)),
    # ------------------------------------------------------------------ garden
    _t("garden", "console tables", "Home & Kitchen › Furniture › Living Room Furniture › Tables › Sofa & Console Tables",
       ["console table", "sofa table", "entryway table"],
       ["easy assemble", "solid wood", "space saving", "rustic"],
       ["storage shelf", "metal frame", "drawers"], ["living room", "entryway", "hallway"],
       [("color", ("rustic brown", "black", "white", "walnut", "grey | white"))], (60, 300)),
    _t("garden", "area rugs", "Home & Kitchen › Home Décor Products › Area Rugs, Runners & Pads › Area Rugs",
       ["area rug", "rug", "floor carpet"],
       ["non slip", "machine washable", "stain resistant", "soft"],
       ["low pile", "rubber backing"], ["living room", "bedroom", "kitchen"],
       [("size", RUG_SIZES), ("color", COLORS[:8])], (25, 260)),
    _t("garden", "birthday candles", "Home & Kitchen › Home Décor Products › Candles & Holders › Candles › Specialty Candles › Birthday Candles",
       ["birthday candles", "cake candles", "candle set"],
       ["smokeless", "non toxic", "long lasting", "colorful"],
       ["candle holders", "gold glitter"], ["birthday cake", "party decoration", "anniversary"],
       [("size", PACKS)], (4, 20)),
    _t("garden", "garden hoses", "Patio, Lawn & Garden › Watering Equipment › Garden Hoses",
       ["garden hose", "water hose", "expandable hose"],
       ["kink free", "leak proof", "heavy duty", "lightweight"],
       ["brass fittings", "spray nozzle", "latex core"], ["lawn watering", "car washing", "yard"],
       [("size", ("25 ft", "50 ft", "75 ft", "100 ft")), ("color", ("green", "blue", "black"))], (18, 90)),
    _t("garden", "throw pillow covers", "Home & Kitchen › Bedding › Decorative Pillows, Inserts & Covers › Throw Pillow Covers",
       ["pillow covers", "cushion cover", "pillowcase"],
       ["machine washable", "soft", "double sided", "decorative"],
       ["hidden zipper", "velvet fabric", "linen blend"], ["living room", "sofa", "bedroom"],
       [("color", COLORS[:14]), ("size", ("16 x 16 inch", "18 x 18 inch", "20 x 20 inch"))], (8, 35)),
    _t("garden", "led string lights", "Tools & Home Improvement › Lighting & Ceiling Fans › Novelty Lighting › String Lights",
       ["string lights", "fairy lights", "led lights"],
       ["waterproof", "battery operated", "energy saving", "dimmable"],
       ["remote control", "timer function", "copper wire"], ["bedroom", "christmas tree", "patio"],
       [("color", ("warm white", "cool white", "multicolor")), ("size", LENGTHS[1:])], (8, 40)),
    # ------------------------------------------------------------------ grocery
    _t("grocery", "party mix", "Grocery & Gourmet Food › Snacks & Sweets › Snack Mixes › Party Mix",
       ["snack mix", "party mix", "trail mix"],
       ["gluten free", "non gmo", "low sugar", "high protein"],
       ["dark chocolate", "roasted nuts", "dried fruit"], ["party snacks", "lunch boxes", "hiking"],
       [("flavor", FLAVORS), ("size", OUNCES[:4])], (5, 35)),
    _t("grocery", "coffee beans", "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Whole Coffee Beans",
       ["coffee beans", "whole bean coffee", "coffee"],
       ["medium roast", "dark roast", "usda organic", "fair trade"],
       ["arabica beans", "resealable bag"], ["espresso", "cold brew", "french press"],
       [("size", OUNCES), ("flavor", ("original", "hazelnut", "french vanilla", "mocha"))], (9, 45)),
    _t("grocery", "herbal tea", "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea › Herbal",
       ["herbal tea", "tea bags", "loose leaf tea"],
       ["caffeine free", "usda organic", "non gmo", "sugar free"],
       ["chamomile", "ginger root", "peppermint leaves"], ["sleep", "digestion", "relaxation"],
       [("flavor", ("chamomile", "rooibos", "lemon ginger", "hibiscus")), ("size", PACKS[:4])], (5, 25)),
    _t("grocery", "protein bars", "Grocery & Gourmet Food › Snacks & Sweets › Bars › Protein Bars",
       ["protein bars", "snack bars", "energy bars"],
       ["high protein", "gluten free", "low carb", "keto friendly"],
       ["whey protein", "peanut butter", "almond butter"], ["post workout", "breakfast", "meal replacement"],
       [("flavor", FLAVORS), ("size", PACKS[2:])], (12, 45)),
    _t("grocery", "olive oil", "Grocery & Gourmet Food › Pantry Staples › Cooking Oils › Olive Oils",
       ["olive oil", "extra virgin olive oil", "cooking oil"],
       ["cold pressed", "usda organic", "non gmo", "first harvest"],
       ["glass bottle", "single origin"], ["salad dressing", "cooking", "dipping bread"],
       [("size", ("500 ml", "750 ml", "1 liter", "3 liter"))], (9, 55)),
)

BRANDS = (
    "Aurelio", "Brightwell", "Cedarline", "Dovetail", "Everkind", "Fernhill", "Glenmoor", "Harborview",
    "Ironbark", "Juniper & Co", "Kestrel", "Lumina", "Maplecrest", "Northwind", "Oakridge", "Pinewood",
    "Quillon", "Riverstone", "Sunvale", "Tidewater", "Umbra Home", "Velora", "Willowby", "Yarrow",
)
