/* The cooperative's books as files: CSV import of members, accounts and
 * postings (the format of ../shared/data/make-koperasi-books.py), and CSV
 * or JSON export of members, accounts, balances and postings. */
#ifndef NUSA_BOOKS_H
#define NUSA_BOOKS_H

#include <stdint.h>
#include <stdio.h>

struct store_txn;
struct key;

enum books_table {
	BOOKS_MEMBERS = 1,
	BOOKS_ACCOUNTS,
	BOOKS_POSTINGS,
};

/* Where an import failed: the 1-based CSV line (the header is line 1). */
struct books_error {
	uint64_t line;
	char what[160];
};

/* Imports every row of a CSV file into t, signed with k. Columns are found
 * by their header names; extra columns are ignored except as said in
 * docs/cli.md. Sets *rows. On error returns a negative code and fills
 * *err; the caller aborts t so nothing is imported. */
int books_import(struct store_txn *t, const struct key *k,
    enum books_table table, FILE *in, uint64_t *rows,
    struct books_error *err);

/* Writes members, accounts (with balances) and postings: as one CSV
 * stream of four sections, or, with dir non-NULL, as members.csv,
 * accounts.csv, balances.csv and postings.csv in dir in the import
 * format. Returns 0 or a negative error. */
int books_export_csv(struct store_txn *t, FILE *out, const char *dir);

/* Writes one of the four files books_export_csv() writes to a
 * directory, byte for byte: table 1 members.csv, 2 accounts.csv, 3
 * balances.csv, 4 postings.csv. Returns 0 or a negative error. */
int books_export_table(struct store_txn *t, FILE *out, int table);

/* Writes the same as one JSON object. */
int books_export_json(struct store_txn *t, FILE *out);

#endif
