from edge.report import presence_report, report_csv


def left(name, duration, first, shares):
    return {
        "type": "face.left",
        "identity": {"name": name, "score": 0.97 if name else 0.5},
        "data": {"duration_s": duration, "first_seen": first, "last_seen": first + duration, "emotion_shares": shares},
    }


def test_visits_are_summed_per_person_and_shares_weighted_by_time():
    rows = presence_report(
        [
            left("ada", 10.0, 1_700_000_000.0, {"happy": 1.0}),
            left(None, 4.0, 1_700_000_005.0, {"sad": 0.5, "neutral": 0.5}),
            left("ada", 30.0, 1_700_000_100.0, {"happy": 0.5, "neutral": 0.5}),
            left("bob", 50.0, 1_700_000_050.0, {"angry": 1.0}),
            left(None, 6.0, 1_700_000_200.0, {"neutral": 1.0}),
        ]
    )
    assert [r["person"] for r in rows] == ["bob", "ada", None]  # longest seen first, strangers last
    ada = rows[1]
    assert ada["visits"] == 2 and ada["time_seen_s"] == 40.0
    assert ada["emotion_shares"] == {"happy": 0.625, "neutral": 0.375}  # (10 + 15) / 40 and 15 / 40
    assert ada["first_seen"] == "2023-11-14T22:13:20Z" and ada["last_seen"] == "2023-11-14T22:15:30Z"
    assert rows[2]["visits"] == 2 and rows[2]["emotion_shares"] == {"neutral": 0.8, "sad": 0.2}


def test_csv_has_one_share_column_per_emotion_and_handles_an_empty_report():
    rows = presence_report([left("ada", 10.0, 1_700_000_000.0, {"happy": 1.0})])
    lines = report_csv(rows, ["happy", "sad"]).splitlines()
    assert lines[0] == "person,visits,time_seen_s,first_seen,last_seen,share_happy,share_sad"
    assert lines[1] == "ada,1,10.0,2023-11-14T22:13:20Z,2023-11-14T22:13:30Z,1.0,0.0"
    assert (
        presence_report([]) == []
        and report_csv([], ["happy"]).strip() == "person,visits,time_seen_s,first_seen,last_seen,share_happy"
    )


def test_timeline_spreads_each_visit_over_the_buckets_it_overlaps():
    from edge.report import presence_timeline

    t0 = 1_700_000_400.0  # 22:20:00 UTC: buckets of 10 minutes start at 22:20
    tl = presence_timeline(
        [
            left("ada", 900.0, t0 + 300, {"happy": 0.5, "sad": 0.5}),  # 22:25 to 22:40: two buckets
            left(None, 60.0, t0 + 1300, {"neutral": 1.0}),  # 22:41:40 to 22:42:40
        ],
        bucket_s=600,
    )
    assert tl["buckets"] == ["2023-11-14T22:20:00Z", "2023-11-14T22:30:00Z", "2023-11-14T22:40:00Z"]
    assert tl["presence"] == {"ada": [300.0, 600.0, 0.0], "strangers": [0.0, 0.0, 60.0]}
    assert tl["emotions"]["ada"] == {"happy": [150.0, 300.0, 0.0], "sad": [150.0, 300.0, 0.0]}
    assert presence_timeline([], 3600)["buckets"] == []


def test_the_strangers_row_counts_unique_and_returning_visitors():
    def visit(label, track_id):
        event = left(None, 5.0, 1_700_000_000.0 + track_id, {})
        event["track_id"], event["data"]["label"] = track_id, label
        return event

    rows = presence_report([visit("visitor-1", 1), visit("visitor-2", 2), visit("visitor-1", 7), visit("visitor-9", 9)])
    assert rows[0]["visits"] == 4 and rows[0]["unique_visitors"] == 3 and rows[0]["returning_visitors"] == 1
    named = presence_report([left("ada", 1.0, 1_700_000_000.0, {})])[0]
    assert "unique_visitors" not in named
