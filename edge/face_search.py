"""FaceSearch: who a face is (an enrolled person or a remembered visitor) and when they were here.

One embedding in; out, the people and visitors it resembles, most similar first, each with their visits
(``face.left`` events, newest first) and a thumbnail path per visit. Used by ``POST /search`` (a photo) and
``POST /events/{seq}/search`` (the face of an event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from edge.events import EventStore
from edge.identity.gallery import IdentityGallery
from edge.identity.visitors import VisitorMemory
from edge.types import visitor_label


@dataclass
class SearchHit:
    """One person or visitor the face resembles."""

    label: str  # the name, or visitor-N
    kind: str  # "person" or "visitor"
    similarity: float
    visits: List[Dict[str, object]]

    def as_dict(self) -> Dict[str, object]:
        return {
            "label": self.label,
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "visits": self.visits,
        }


def visit_summary(event: Dict[str, object]) -> Dict[str, object]:
    """What a search shows of one visit."""
    data = event.get("data") or {}
    return {
        "seq": event["seq"],
        "camera": event.get("camera"),
        "track_id": event.get("track_id"),
        "first_seen": data.get("first_seen"),  # type: ignore[union-attr]
        "last_seen": data.get("last_seen"),  # type: ignore[union-attr]
        "duration_s": data.get("duration_s"),  # type: ignore[union-attr]
        "time": event.get("time"),
        "thumbnail": f"/events/{event['seq']}/thumbnail.jpg",
    }


class FaceSearch:
    """Ranks the gallery's people and the remembered visitors by similarity to a face."""

    def __init__(self, events: EventStore, gallery: IdentityGallery, visitors: Optional[VisitorMemory]) -> None:
        self.events = events
        self.gallery = gallery
        self.visitors = visitors

    def search(
        self, vector: np.ndarray, embedder: str, min_similarity: float, limit: int = 5, visits: int = 20
    ) -> List[SearchHit]:
        """At most ``limit`` people or visitors at least ``min_similarity`` similar to ``vector`` (unit length,
        by the network ``embedder`` names), each with up to ``visits`` visits."""
        found = [(name, "person", score) for name, score in self.gallery.scores(vector, embedder)]
        if self.visitors is not None:
            found += [(visitor_label(v), "visitor", score) for v, score in self.visitors.ranked(vector, embedder)]
        found = sorted((f for f in found if f[2] >= min_similarity), key=lambda f: -f[2])[:limit]
        return [
            SearchHit(label, kind, score, [visit_summary(e) for e in self.events.visits(label, visits)])
            for label, kind, score in found
        ]
