-- One database per service; each service owns its tables and no other reads
-- them. `onewindow setup` applies the migrations.
CREATE DATABASE onewindow_intake;
CREATE DATABASE onewindow_review;
CREATE DATABASE onewindow_fees;
CREATE DATABASE onewindow_notify;
CREATE DATABASE onewindow_hall;
CREATE DATABASE onewindow_gateway;
CREATE DATABASE onewindow_portal;
