module buffer_churn

go 1.19
