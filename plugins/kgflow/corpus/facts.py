"""The fictional company Corvane Systems: who and what exists, and how they relate.

Every fact is written as one plain sentence so that a reader (and a dependency parser) can find
subject, verb and object. Tests compare the built graph against these lists.
"""

from __future__ import annotations

from dataclasses import dataclass

DEPARTMENTS = ["engineering", "finance", "sales", "legal", "hr", "public"]

ENTITIES: dict[str, str] = {
    # people
    "Maria Lindqvist": "PERSON",
    "David Okafor": "PERSON",
    "Sarah Chen": "PERSON",
    "Tomas Berg": "PERSON",
    "Aisha Rahman": "PERSON",
    "James Whitfield": "PERSON",
    "Elena Petrova": "PERSON",
    "Robert Mills": "PERSON",
    "Priya Nair": "PERSON",
    "Lucas Moreau": "PERSON",
    # organisations
    "Corvane Systems": "ORG",
    "Helix Logistics": "ORG",
    "Baltic Freight Group": "ORG",
    "Nordlys Energy": "ORG",
    "Quantara Bank": "ORG",
    "Vesta Components": "ORG",
    # places
    "Oslo": "GPE",
    "Rotterdam": "GPE",
    "Gdansk": "GPE",
    "Hamburg": "GPE",
    "Toronto": "GPE",
    "Singapore": "GPE",
    # products and projects
    "Corvane Atlas": "PRODUCT",
    "Corvane Beacon": "PRODUCT",
    "Tidewatch": "PRODUCT",
    "Harbor OS": "PRODUCT",
    "Project Falcon": "PROJECT",
    "Project Meridian": "PROJECT",
}


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str  # verb lemma (+ preposition), as the extractor names it
    object: str
    sentence: str
    question: str  # asked of the model: its gold answer is one entity
    answer: str


FACTS: list[Fact] = [
    Fact("Maria Lindqvist", "lead", "Project Falcon", "Maria Lindqvist leads Project Falcon.",
         "Who leads Project Falcon?", "Maria Lindqvist"),
    Fact("Project Falcon", "use", "Corvane Beacon", "Project Falcon uses Corvane Beacon for vessel tracking.",
         "Which product does Project Falcon use for vessel tracking?", "Corvane Beacon"),
    Fact("David Okafor", "manage", "Corvane Atlas", "David Okafor manages Corvane Atlas.",
         "Who manages Corvane Atlas?", "David Okafor"),
    Fact("Corvane Systems", "acquire", "Helix Logistics", "Corvane Systems acquired Helix Logistics last spring.",
         "Which company did Corvane Systems acquire last spring?", "Helix Logistics"),
    Fact("Helix Logistics", "headquarter_in", "Rotterdam", "Helix Logistics is headquartered in Rotterdam.",
         "Where is Helix Logistics headquartered?", "Rotterdam"),
    Fact("Quantara Bank", "finance", "Project Meridian", "Quantara Bank finances Project Meridian.",
         "Which bank finances Project Meridian?", "Quantara Bank"),
    Fact("Sarah Chen", "work_for", "Quantara Bank", "Sarah Chen works for Quantara Bank.",
         "Who does Sarah Chen work for?", "Quantara Bank"),
    Fact("Project Meridian", "build", "Harbor OS", "Project Meridian builds Harbor OS.",
         "What does Project Meridian build?", "Harbor OS"),
    Fact("Tomas Berg", "run", "Baltic Freight Group", "Tomas Berg runs Baltic Freight Group.",
         "Who runs Baltic Freight Group?", "Tomas Berg"),
    Fact("Baltic Freight Group", "license", "Tidewatch", "Baltic Freight Group licensed Tidewatch.",
         "Which product did Baltic Freight Group license?", "Tidewatch"),
    Fact("Nordlys Energy", "buy", "Corvane Atlas", "Nordlys Energy bought Corvane Atlas.",
         "Which company bought Corvane Atlas?", "Nordlys Energy"),
    Fact("Aisha Rahman", "negotiate", "Nordlys Energy", "Aisha Rahman negotiated the contract with Nordlys Energy.",
         "Who negotiated the contract with Nordlys Energy?", "Aisha Rahman"),
    Fact("Vesta Components", "supply", "Corvane Systems", "Vesta Components supplies Corvane Systems.",
         "Which company supplies Corvane Systems?", "Vesta Components"),
    Fact("Vesta Components", "base_in", "Gdansk", "Vesta Components is based in Gdansk.",
         "Where is Vesta Components based?", "Gdansk"),
    Fact("James Whitfield", "audit", "Quantara Bank", "James Whitfield audited Quantara Bank.",
         "Who audited Quantara Bank?", "James Whitfield"),
    Fact("Elena Petrova", "design", "Tidewatch", "Elena Petrova designed Tidewatch.",
         "Who designed Tidewatch?", "Elena Petrova"),
    Fact("Robert Mills", "head", "Corvane Systems", "Robert Mills heads Corvane Systems.",
         "Who heads Corvane Systems?", "Robert Mills"),
    Fact("Corvane Systems", "headquarter_in", "Oslo", "Corvane Systems is headquartered in Oslo.",
         "Where is Corvane Systems headquartered?", "Oslo"),
    Fact("Priya Nair", "open_in", "Singapore", "Priya Nair opened the office in Singapore.",
         "Where did Priya Nair open the office?", "Singapore"),
    Fact("Lucas Moreau", "advise", "Helix Logistics", "Lucas Moreau advises Helix Logistics.",
         "Who advises Helix Logistics?", "Lucas Moreau"),
    Fact("Helix Logistics", "operate_in", "Hamburg", "Helix Logistics operates in Hamburg.",
         "In which city does Helix Logistics operate?", "Hamburg"),
    Fact("Nordlys Energy", "base_in", "Toronto", "Nordlys Energy is based in Toronto.",
         "Where is Nordlys Energy based?", "Toronto"),
]

# Questions whose answer needs two facts from two different documents: the vector neighbours of the
# question find the first hop; the graph (via the shared entity) finds the second.
MULTI_HOP: list[dict] = [
    {
        "question": "Who leads the project that uses Corvane Beacon?",
        "answer": "Maria Lindqvist",
        "hops": ["Project Falcon uses Corvane Beacon", "Maria Lindqvist leads Project Falcon"],
    },
    {
        "question": "Which bank finances the project that builds Harbor OS?",
        "answer": "Quantara Bank",
        "hops": ["Project Meridian builds Harbor OS", "Quantara Bank finances Project Meridian"],
    },
    {
        "question": "Who runs the company that licensed Tidewatch?",
        "answer": "Tomas Berg",
        "hops": ["Baltic Freight Group licensed Tidewatch", "Tomas Berg runs Baltic Freight Group"],
    },
    {
        "question": "In which city is the company acquired by Corvane Systems headquartered?",
        "answer": "Rotterdam",
        "hops": ["Corvane Systems acquired Helix Logistics", "Helix Logistics is headquartered in Rotterdam"],
    },
]

# Filler prose with no named entities, so that facts are the only source of graph edges.
FILLER = [
    "The team reviewed the quarterly roadmap and agreed on the next milestones.",
    "All staff should complete the security awareness training before the end of the month.",
    "The migration to the new storage layer reduced maintenance windows considerably.",
    "Customer feedback highlighted the need for clearer onboarding material.",
    "Budget owners must submit their forecasts through the usual planning template.",
    "The incident review found no lasting impact on service availability.",
    "Hiring for the platform group continues, with two open positions remaining.",
    "The steering committee asked for a simpler reporting format next quarter.",
    "Travel requests above the standard limit need approval from a director.",
    "Test coverage for the billing service improved after the last sprint.",
]
