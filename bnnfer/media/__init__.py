"""Photos and videos: faces found and framed (`faces`), readings of a photo's faces (`predict`),
videos over time (`video`) and faces tracked across frames (`tracking`)."""
