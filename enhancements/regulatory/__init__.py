"""Regulatory thresholds, deadlines and statutory rules, each with its source cited.

One module per topic, and nowhere else in the code base:
- tat.py        RBI turn-around times for failed transactions and refunds, compensation
- reporting.py  FIU-IND / PMLA reporting thresholds and due dates (CTR, CBWTR, STR)
- mdr.py        zero-MDR rules (UPI P2M, RuPay debit cards)
- kyc.py        periodic re-KYC intervals by risk
"""
