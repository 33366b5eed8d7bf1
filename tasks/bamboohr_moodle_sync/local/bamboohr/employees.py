"""A seeded generator of realistic BambooHR employees for the emulator and the tests.

The data carries the awkward cases a sync meets in real HR records: accented and non-Latin names,
apostrophes and hyphens, preferred names, missing and shared work e-mails, e-mails with ``+`` or capitals,
terminated employees and future hires (Inactive until their start date, as BambooHR shows them), employment
statuses (``employmentHistoryStatus``: Full-Time, Part-Time, Contractor, Intern; Terminated once terminated) and
leavers whose termination is scheduled (Active, with a terminationDate ahead).
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta

FIRST_NAMES = (
    "Zoë", "José", "Łukasz", "Siobhán", "Björn", "François", "Aoife", "Chloé", "Jürgen", "Søren", "Renée",
    "Noémie", "María", "Thảo", "Minh", "Wei", "Priya", "Olivia", "James", "Emma", "Liam", "Ava", "Noah",
    "Sophia", "Mateo", "Amara", "Kwame", "Fatima", "Yusuf", "Hannah", "Daniel", "Sarah", "Michael", "Grace",
    "Ethan", "Isabella", "Lucas", "Mia", "Oliver", "William", "Elizabeth", "Katherine", "Alexander",
)  # fmt: skip
LAST_NAMES = (
    "Nguyễn", "O'Brien", "Smith-Jones", "García", "Müller", "Kowalski", "Żak", "D'Angelo", "van der Berg",
    "MacDonald", "Johnson", "Williams", "Brown", "Taylor", "Lee", "Chen", "Patel", "Singh", "Okafor", "Dubois",
    "Rossi", "Novák", "Šimić", "O'Connor", "Lefèvre", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Thomas", "Martin", "Clark-Lewis", "Hernández", "Yılmaz", "Østergaard", "Trần", "Papadopoulos",  # noqa: RUF001 - dotless i is Turkish
)  # fmt: skip
PREFERRED_NAMES = ("Bill", "Liz", "Kate", "Alex", "Sam", "Jo", "Mike", "Dan", "Bea", "Zoe", "Tom", "Lou")
JOB_TITLES_BY_DEPARTMENT = {
    "Engineering": ("Software Engineer", "Senior Software Engineer", "Engineering Manager", "QA Analyst"),
    "Sales": ("Account Executive", "Sales Development Representative", "Sales Manager"),
    "Marketing": ("Marketing Manager", "Content Strategist", "Product Marketing Manager"),
    "Finance": ("Accountant", "Financial Analyst", "Controller"),
    "Human Resources": ("HR Business Partner", "Recruiter", "People Operations Specialist"),
    "Operations": ("Operations Analyst", "Office Manager", "Facilities Coordinator"),
    "Customer Success": ("Customer Success Manager", "Support Specialist", "Support Team Lead"),
    "Legal": ("Corporate Counsel", "Paralegal"),
}
DEPARTMENTS = tuple(JOB_TITLES_BY_DEPARTMENT)
DIVISIONS = ("North America", "Europe", "Asia Pacific", "Latin America")
LOCATIONS = ("New York", "London", "Kraków", "São Paulo", "Ho Chi Minh City", "Dublin", "Remote")
WORK_EMAIL_DOMAIN = "acme.example"
HOME_EMAIL_DOMAINS = ("mail.example", "post.example", "inbox.example")
DEFAULT_HIRE_BEFORE = date(2026, 1, 1)
EMPLOYMENT_STATUSES = (("Full-Time", 0.80), ("Part-Time", 0.10), ("Contractor", 0.06), ("Intern", 0.04))
SCHEDULED_LEAVERS = 0.02
"""Active employees whose terminationDate is 30 to 90 days after ``hire_before``: leavers once the clock gets there."""

_ASCII_FALLBACKS = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "\u0131": "i", "ß": "ss", "Đ": "D"})


def email_local_part(first_name: str, last_name: str) -> str:
    """``first.last`` in ASCII: accents stripped, apostrophes and spaces removed, hyphens kept."""
    text = f"{first_name}.{last_name}".translate(_ASCII_FALLBACKS)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in ascii_text if ch.isalnum() or ch in ".-").lower()


def _rate_count(n: int, rate: float) -> int:
    """How many of ``n`` records get a trait of frequency ``rate`` (at least one once ``n`` is large enough)."""
    return round(n * rate) if n * rate >= 0.5 else 0


def generate_employees(n: int, seed: int = 0, hire_before: date = DEFAULT_HIRE_BEFORE) -> list[dict[str, str | None]]:
    """``n`` employees' field values (no ``id``), deterministic for a given ``seed``.

    About 2% have no work e-mail, 1% share another employee's work e-mail, 5% are terminated (Inactive with a
    terminationDate before ``hire_before``) and 1% are future hires (Inactive, hireDate after ``hire_before``).
    Employment statuses and scheduled leavers come from a second generator, so the other fields stay what they
    were before those existed. Empty values are None.
    """
    rng = random.Random(seed)
    employment = random.Random(seed * 7919 + 1)
    order = list(range(n))
    rng.shuffle(order)
    quotas = [("no_email", 0.02), ("shared_email", 0.01), ("terminated", 0.05), ("future_hire", 0.01)]
    trait_of: dict[int, str] = {}
    start = 0
    for trait, rate in quotas:
        count = _rate_count(n, rate)
        for index in order[start : start + count]:
            trait_of[index] = trait
        start += count

    employees: list[dict[str, str | None]] = []
    used_local_parts: set[str] = set()
    for index in range(n):
        trait_here = trait_of.get(index)
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        department = rng.choice(DEPARTMENTS)
        local_part = email_local_part(first_name, last_name)
        unique_local_part, suffix = local_part, 2
        while unique_local_part in used_local_parts:
            unique_local_part, suffix = f"{local_part}{suffix}", suffix + 1
        used_local_parts.add(unique_local_part)
        style = rng.random()
        if style < 0.03:
            work_email: str | None = f"{unique_local_part.title()}@{WORK_EMAIL_DOMAIN}"  # e.g. Jose.Garcia@
        elif style < 0.05:
            work_email = f"{unique_local_part}+{rng.choice(('hr', 'work', 'staff'))}@{WORK_EMAIL_DOMAIN}"
        else:
            work_email = f"{unique_local_part}@{WORK_EMAIL_DOMAIN}"
        hire_date = hire_before - timedelta(days=rng.randint(1, 3650))
        status, termination_date = "Active", None
        if trait_here == "no_email":
            work_email = None
        elif trait_here == "shared_email" and employees:
            work_email = next((e["workEmail"] for e in reversed(employees) if e["workEmail"]), work_email)
        elif trait_here == "terminated":
            status = "Inactive"
            span = max((hire_before - hire_date).days - 1, 1)
            termination_date = (hire_date + timedelta(days=rng.randint(1, span))).isoformat()
        elif trait_here == "future_hire":
            status, hire_date = "Inactive", hire_before + timedelta(days=rng.randint(1, 60))
        employment_status = "Terminated" if status == "Inactive" and termination_date else "Full-Time"
        chosen = employment.choices([s for s, _ in EMPLOYMENT_STATUSES], [w for _, w in EMPLOYMENT_STATUSES])[0]
        if status == "Active":
            employment_status = chosen
            if employment.random() < SCHEDULED_LEAVERS:
                termination_date = (hire_before + timedelta(days=employment.randint(30, 90))).isoformat()
        home_email = (
            None if rng.random() < 0.3 else f"{unique_local_part}{rng.randint(1, 99)}@{rng.choice(HOME_EMAIL_DOMAINS)}"
        )
        employees.append(
            {
                "firstName": first_name,
                "lastName": last_name,
                "preferredName": rng.choice(PREFERRED_NAMES) if rng.random() < 0.1 else None,
                "workEmail": work_email,
                "homeEmail": home_email,
                "employeeNumber": str(1001 + index),
                "status": status,
                "employmentHistoryStatus": employment_status,
                "department": department,
                "division": rng.choice(DIVISIONS),
                "jobTitle": rng.choice(JOB_TITLES_BY_DEPARTMENT[department]),
                "location": rng.choice(LOCATIONS),
                "hireDate": hire_date.isoformat(),
                "terminationDate": termination_date,
            }
        )
    return employees
