"""Neutral filler sentences and decisive needle sentences for the long-input suite.

Provenance: every sentence below was written for transformer-audit by its authors (no external source),
licensed with the project. The filler describes ordinary facts and routines in plain register, without
sentiment words, names of people, groups or places, so that it carries no label of its own; the probes
check that claim on the audited model and report it. The needles are short, unambiguous sentiment
sentences (three positive, three negative), used as the "decisive sentence" of the needle-in-a-haystack test;
a probe takes the label the model gives each needle on its own as its reference, so the needles work for
any classifier, and users with other label sets pass their own with ``needles=[...]``.
"""
from __future__ import annotations

FILLER: tuple[str, ...] = (
    "The library opens at nine in the morning on weekdays.",
    "A bus leaves the station every twenty minutes.",
    "The report has four sections and an appendix.",
    "Water boils at one hundred degrees at sea level.",
    "The meeting was moved from Tuesday to Thursday.",
    "Most of the shelves in the storeroom hold paper and folders.",
    "The recipe calls for two cups of flour and one egg.",
    "The train has eight carriages and a small buffet.",
    "Each chapter begins with a short summary of its contents.",
    "The office is on the third floor of the building.",
    "A standard deck contains fifty-two playing cards.",
    "The form asks for a postal code and a telephone number.",
    "Rain is expected in the afternoon, followed by clouds.",
    "The bridge was painted grey during the last renovation.",
    "Tickets can be bought at the counter or from the machine.",
    "The committee meets on the first Monday of each month.",
    "A kilometre is equal to one thousand metres.",
    "The garden has a path, two benches and a shed.",
    "The manual describes how to replace the filter.",
    "Lunch is served between noon and two o'clock.",
    "The museum has a room for maps and another for coins.",
    "The package weighs a little under three kilograms.",
    "The road turns left after the second crossing.",
    "Printed copies of the schedule are kept at the front desk.",
    "The store restocks its shelves on Wednesday evenings.",
    "The lecture covers the water cycle and the seasons.",
    "A week has seven days and a year has twelve months.",
    "The parking area is behind the main entrance.",
    "The kettle, the cups and the spoons are in the kitchen.",
    "The clock in the hall shows the time in two time zones.",
    "The survey was sent to households in the district.",
    "The floor plan shows two bedrooms and one bathroom.",
    "Boxes are labelled with a date and a number.",
    "The ferry crosses the river four times a day.",
    "The desk has three drawers and a lamp.",
    "The table lists the dates, the rooms and the speakers.",
    "Most leaves fall from the trees in autumn.",
    "The document was saved in a shared folder.",
    "The hall can seat about two hundred people.",
    "A new edition of the dictionary appears every few years.",
    "The window faces the street and the small square.",
    "The invoice includes the delivery fee and the tax.",
    "The path along the canal is about five kilometres long.",
    "The meeting notes were sent to everyone on the list.",
    "Coffee and tea are available in the lobby.",
    "The map uses blue for rivers and green for parks.",
    "The school year starts at the beginning of September.",
    "The printer on the second floor uses both sides of the page.",
    "The bakery sells bread, rolls and a few kinds of cake.",
    "The instructions are printed on the back of the box.",
    "Visitors sign in at the reception before going upstairs.",
    "The course lasts ten weeks with one session per week.",
    "The cabinet holds spare cables, plugs and batteries.",
    "The town hall is next to the post office.",
    "A litre of water weighs about one kilogram.",
    "The elevator stops at every floor except the basement.",
    "The timetable changes when the summer season begins.",
    "The chairs are stacked in the corner after each event.",
    "The article was published in the spring issue.",
    "The hallway leads to the kitchen and the laundry room.",
    "The phone number is listed at the bottom of the page.",
    "The workshop uses wood, glue and a set of simple tools.",
    "The fence around the field was built from wooden posts.",
    "The next stop on the line is the central square.",
)

NEEDLES: tuple[str, ...] = (
    "I absolutely loved it, a wonderful and delightful experience.",
    "This is terrible, I hated every awful minute of it.",
    "Brilliant work, I am thrilled and very happy with it.",
    "What a disaster, it was bad, ugly and disappointing.",
    "A fantastic, beautiful result that made me so glad.",
    "I am furious, the service was horrible and rude.",
)

PASSKEY_PLANT = "The pass key is {key}. Remember it."
PASSKEY_QUERY = "The pass key is {key}."
