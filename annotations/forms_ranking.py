"""The ranking page (a ranking, a skip, undoing the last one) and the lead's ranking
settings. Forms parse the shape of input; services check the domain rules."""

from __future__ import annotations

from django import forms

from annotations.models import RankingMode
from annotations.models.project import MAX_RANKING_OVERLAP, RANKING_SIZES
from annotations.services.ranking_config import RankingSettings
from annotations.services.rankings import RankingInput


class RankingForm(forms.Form):
    """One ``place_<item id>`` per item (1 = best): without JavaScript the rater picks the
    places; with it, dragging and the keys set them."""

    key = forms.UUIDField()
    active_ms = forms.IntegerField(required=False, min_value=0)
    skip = forms.BooleanField(required=False)

    def __init__(self, *args: object, item_ids: list[int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.item_ids = item_ids
        places = [(place, str(place)) for place in range(1, len(item_ids) + 1)]
        for item_id in item_ids:
            self.fields[place_field(item_id)] = forms.TypedChoiceField(
                choices=places, coerce=int, required=False, empty_value=None)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("skip") or self.errors:
            return data
        places = [data.get(place_field(item_id)) for item_id in self.item_ids]
        taken = [place for place in places if place is not None]
        twice = sorted({place for place in taken if taken.count(place) > 1})
        if twice:
            raise forms.ValidationError(
                f"Place {', '.join(map(str, twice))} is given to more than one response: give "
                "each response its own place (there are no ties).")
        if len(taken) != len(places):
            raise forms.ValidationError("Give every response a place, from 1 (best) down.")
        return data

    def to_input(self) -> RankingInput:
        data = self.cleaned_data
        active_ms = data.get("active_ms")
        seconds = None if active_ms is None else active_ms / 1000.0
        if data.get("skip"):
            return RankingInput(skip=True, active_seconds=seconds)
        order = sorted(self.item_ids, key=lambda item_id: data[place_field(item_id)])
        return RankingInput(order=tuple(order), active_seconds=seconds)


def place_field(item_id: int) -> str:
    return f"place_{item_id}"


class RankingSettingsForm(forms.Form):
    mode = forms.ChoiceField(
        label="Ranking tasks", choices=RankingMode.choices, widget=forms.RadioSelect,
        help_text="Alongside pairs, raters choose between the two pages; instead of pairs, "
                  "the pairwise page sends them to the rankings.")
    size = forms.IntegerField(
        label="Responses per ranking (k)", min_value=RANKING_SIZES[0],
        max_value=RANKING_SIZES[1],
        help_text="3 to 6. A group (prompt) with at most k responses is ranked whole; a larger "
                  "group is split into rankings of k that share one response with the next, so "
                  "all of its responses end up on one scale.")
    overlap = forms.IntegerField(
        label="Raters per ranking", min_value=1, max_value=MAX_RANKING_OVERLAP,
        help_text="At most this many raters rank each task (tasks being ranked right now "
                  "count); a rater never ranks the same task twice.")

    def to_settings(self) -> RankingSettings:
        data = self.cleaned_data
        return RankingSettings(mode=data["mode"], size=data["size"], overlap=data["overlap"])
