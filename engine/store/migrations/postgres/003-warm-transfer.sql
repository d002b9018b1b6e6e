-- Warm transfer: a transfer's mode (blind: put through at once; warm: the destination hears a briefing and
-- accepts before the caller is connected) and the summary the model gave for it. Hang-ups have neither;
-- transfers sent before modes existed were blind.
ALTER TABLE call_commands ADD COLUMN mode TEXT CHECK (mode IN ('blind', 'warm'));
ALTER TABLE call_commands ADD COLUMN summary TEXT;
UPDATE call_commands SET mode = 'blind' WHERE kind = 'transfer';
