DROP TABLE notification_events;
DROP TABLE deliveries;
DROP TABLE delivery_batches;
