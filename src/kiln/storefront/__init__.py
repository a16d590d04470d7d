"""The embedded store's front: SigV4 and IAM policies in front of rclone (issue 7, item 3)."""
