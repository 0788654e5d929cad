module binary_trees

go 1.19
