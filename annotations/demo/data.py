"""Deterministic demo items: prompts answered by four simulated assistants of differing quality."""

from __future__ import annotations

import json

PROMPTS = [
    ("photosynthesis", "Explain photosynthesis to a ten-year-old."),
    ("binary-search", "How does binary search work, and when should I use it?"),
    ("sleep", "Give me three evidence-based tips for sleeping better."),
    ("email", "Write a short, polite email declining a meeting invitation."),
    ("inflation", "What causes inflation? Answer in a few sentences."),
    ("python-list", "How do I remove duplicates from a Python list while keeping order?"),
    ("tides", "Why does the ocean have tides?"),
    ("haiku", "Write a haiku about autumn rain."),
    ("vaccines", "How do mRNA vaccines work?"),
    ("git-rebase", "What is the difference between git merge and git rebase?"),
    ("budget", "Suggest a simple way to start a monthly budget."),
    ("rainbow", "Why are rainbows curved?"),
]

ANSWERS = {
    "photosynthesis": [
        "Plants make their own food! They catch **sunlight** with their green leaves, drink water "
        "through their roots and breathe in carbon dioxide from the air. Using the sunlight's "
        "energy they turn these into sugar (their food) and let out oxygen, which we breathe.",
        "Photosynthesis is when plants use light to make sugar from water and carbon dioxide. "
        "Oxygen comes out as a leftover.",
        "Photosynthesis converts light energy into chemical energy via the Calvin cycle and "
        "photosystems I and II in the thylakoid membranes.",
        "Plants eat dirt to grow, and the sun keeps them warm.",
    ],
}

STYLES = {
    "assistant-alpha": "A careful, complete answer to: *{prompt}*\n\n1. Start with the key idea.\n"
                       "2. Give a concrete example.\n3. Mention a common pitfall.\n\n"
                       "In short: this covers {topic} accurately and clearly.",
    "assistant-beta": "Here is an answer about {topic}: the main point is explained briefly, "
                      "with one example. It is correct but leaves out some detail.",
    "assistant-gamma": "{topic}? It's complicated. There are many factors and it depends on "
                       "the situation, so it is hard to say in general.",
    "assistant-delta": "I think {topic} is about something else entirely; you could search "
                       "the web for more information.",
}

SOURCE_STRENGTH = {"assistant-alpha": 1.2, "assistant-beta": 0.5, "assistant-gamma": -0.4,
                   "assistant-delta": -1.3}


def demo_items() -> list[dict[str, object]]:
    """One item per (prompt, source); grouped by prompt."""
    items = []
    for group, prompt in PROMPTS:
        written = ANSWERS.get(group)
        for index, (source, template) in enumerate(STYLES.items()):
            content = (written[index] if written else
                       template.format(prompt=prompt, topic=group.replace("-", " ")))
            items.append({"external_id": f"{group}-{source}", "group": group, "source": source,
                          "prompt": prompt, "content": content,
                          "metadata": {"demo": True}})
    return items


def demo_jsonl() -> bytes:
    return "\n".join(json.dumps(item) for item in demo_items()).encode()
