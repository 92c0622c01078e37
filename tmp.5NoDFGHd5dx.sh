rr_x() { echo "a
# b"; }
