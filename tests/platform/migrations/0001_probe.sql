CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL);
CREATE TABLE IF NOT EXISTS effects (id serial PRIMARY KEY, event_id text NOT NULL, text text NOT NULL);
-- text -> how many more times the handler must fail on it (-1: always)
CREATE TABLE IF NOT EXISTS planned_failures (text text PRIMARY KEY, remaining integer NOT NULL);
